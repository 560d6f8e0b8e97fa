"""Slow tier: a project created with cruft follows the template from version N to N+1.

The test plays both sides: the platform team advances the template (a new lint rule, a changed CI
step, a new setting, a version bump) while the service team has committed its own edits; then
`cruft update` must bring the template change in, keep the local edits and `.env`, and leave a
project whose own test suite passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import tool_path

pytestmark = pytest.mark.slow
CRUFT = str(Path(sys.executable).parent / "cruft")
GIT = ["git", "-c", "user.name=Service Team", "-c", "user.email=team@example.com"]
PROJECT_TEMPLATE = "{{cookiecutter.project_slug}}"


def run(cwd: Path, *command: str) -> str:
    result = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"`{' '.join(command)}` failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def write_revision(versions: Path, revision: str, down_revision: str) -> None:
    """An Alembic revision that changes nothing: what matters here is where it joins the chain."""
    (versions / f"{revision}_next.py").write_text(
        f'"""Revision {revision}."""\n\nrevision = "{revision}"\ndown_revision = "{down_revision}"\n'
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    pass\n\n\n"
        "def downgrade() -> None:\n    pass\n",
        encoding="utf-8",
    )


def newest_revision(versions: Path) -> str:
    return max(path.name.partition("_")[0] for path in versions.glob("[0-9]*.py"))


def advance_template(repo: Path) -> None:
    """Version N+1: the kind of change a platform team ships."""
    project = repo / PROJECT_TEMPLATE
    edit(project / "pyproject.toml", '"T20", "RUF",', '"T20", "RUF", "PIE",')
    # A dependency (one the lock already holds, so nothing is downloaded) and a migration.
    edit(
        project / "pyproject.toml",
        "    # The project's own below:",
        '    "certifi>=2024",\n    # The project\'s own below:',
    )
    versions = project / "migrations" / "versions"
    write_revision(versions, f"{int(newest_revision(versions)) + 1:04d}", newest_revision(versions))
    edit(project / ".github/workflows/ci.yml", "timeout-minutes: 15", "timeout-minutes: 25")
    edit(project / ".env.example", "# --- Logging ---", "# --- Logging ---\n# Added in 0.2.0.\n# LOG_SAMPLE_RATE=1.0")
    edit(repo / "cookiecutter.json", '"_template_version": "0.1.0"', '"_template_version": "0.2.0"')
    run(repo, *GIT, "add", "-A")
    run(repo, *GIT, "commit", "-qm", "0.2.0: flake8-pie rules, a CI timeout, LOG_SAMPLE_RATE, certifi, a migration")


def test_cruft_update_brings_template_changes_and_keeps_local_work(tmp_path: Path, template_repo: Path) -> None:
    run(tmp_path, CRUFT, "create", "--no-input", "--output-dir", str(tmp_path), str(template_repo))
    project = tmp_path / "orders-service"
    env_before = (project / ".env").read_bytes()
    run(project, "make", "install")  # the pre-commit hooks run the project's own tools
    run(project, *GIT, "add", ".cruft.json", "uv.lock")
    run(project, *GIT, "commit", "-qm", "Track the template link and the lock file")

    items = next(project.glob("src/*/api/v1/items.py"))
    items.write_text(items.read_text(encoding="utf-8") + "\n\n# Service team: pricing hooks go here.\n")
    edit(project / "pyproject.toml", "line-length = 120", 'line-length = 120\nextend-exclude = ["scratch"]')
    run(project, tool_path("uv"), "add", "--quiet", "idna>=3")  # already locked: nothing to download
    write_revision(project / "migrations" / "versions", "own1", newest_revision(project / "migrations" / "versions"))
    run(project, *GIT, "add", "-A")
    run(project, *GIT, "commit", "-qm", "Our own changes")
    advance_template(template_repo)

    check = subprocess.run([CRUFT, "check"], cwd=project, capture_output=True, text=True, check=False)
    assert check.returncode != 0, "cruft check must report the project is behind"
    update = run(project, CRUFT, "update", "--skip-apply-ask")
    # The hook knew the renders for what they were: it pruned them and set nothing up, no summary.
    assert "Generated " not in update, update

    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert '"PIE"' in pyproject, "the template's new lint rule arrived"
    assert 'extend-exclude = ["scratch"]' in pyproject, "the local pyproject edit survived"
    assert '"certifi>=2024",' in pyproject, "the template's new dependency arrived"
    assert '"idna>=3",' in pyproject, "the dependency the team added survived, with no conflict"
    assert "<<<<<<<" not in pyproject
    assert 'version = "0.2.0"' in pyproject.split("[tool.fastapi-service-template]")[1]
    assert "timeout-minutes: 25" in (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    assert "LOG_SAMPLE_RATE" in (project / ".env.example").read_text(encoding="utf-8")
    assert "pricing hooks go here" in items.read_text(encoding="utf-8"), "the local code edit survived"
    assert (project / ".env").read_bytes() == env_before, "the update must not touch .env"
    assert not list(project.rglob("*.rej")), "no rejected hunks"
    assert (
        json.loads((project / ".cruft.json").read_text())["commit"]
        == run(template_repo, "git", "rev-parse", "HEAD").strip()
    )
    status = run(project, "git", "status", "--porcelain")
    assert ".git/" not in status, "nothing of the renders' git repositories leaks into the project"
    run(project, CRUFT, "check")

    # The README's steps after the update: join the two newest migrations, run the gates, commit.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    heads = run(project, tool_path("uv"), "run", "--no-sync", "alembic", "heads")
    assert heads.count("(head)") == 2, heads
    run(project, tool_path("uv"), "run", "--no-sync", "alembic", "merge", "heads", "-m", "join migrations")
    result = subprocess.run(["make", "test", "lint"], cwd=project, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    run(project, *GIT, "add", "-A")
    run(project, *GIT, "commit", "-qm", "Update to the template's 0.2.0")
    assert run(project, "git", "status", "--porcelain") == "", "the commit holds the whole update"
    run(project, tool_path("uv"), "lock", "--locked")
    run(project, CRUFT, "check")


def test_adding_a_module_later_with_cruft(tmp_path: Path, template_repo: Path) -> None:
    answers = json.dumps({"use_docker": False})
    run(tmp_path, CRUFT, "create", "--no-input", "--output-dir", str(tmp_path), "--extra-context", answers,
        str(template_repo))  # fmt: skip
    project = tmp_path / "orders-service"
    run(project, *GIT, "add", ".cruft.json")
    run(project, *GIT, "commit", "-qm", "Track the template link", "--no-verify")
    assert not (project / "Dockerfile").exists()

    run(project, CRUFT, "update", "--skip-apply-ask", "--variables-to-update", json.dumps({"use_docker": True}))

    assert (project / "Dockerfile").exists()
    assert (project / "compose.yaml").exists()
    assert json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["use_docker"] is True
