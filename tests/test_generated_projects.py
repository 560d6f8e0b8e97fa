"""Slow tier: install generated projects and run their own gates.

The combinations are the pairwise set from tests/variants.py, so every pair of option values is
installed and tested together at least once. Each project runs on the interpreter its
python_version answer names (so the 3.13 combinations really run on 3.13).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .checks import (
    installed_distribution_names,
    installed_import_names,
    unrefused_distribution_names,
    unrefused_import_names,
)
from .conftest import bake_ok
from .services import create_database, postgres_server, redis_server
from .variants import TEMPLATE_DIR, option_space, pairwise_combinations, variant_id

pytestmark = pytest.mark.slow
# Every other variant is named as people name things: a name that needs escaping in HTML and mail,
# and a package named apart from the project (its distribution).
UNUSUAL_NAMES = {"project_name": "Bob's Orders", "package_name": "orders"}
# A CI job matrix runs one combination per job by setting TEMPLATE_VARIANT to its JSON.
PAIRWISE = [json.loads(os.environ["TEMPLATE_VARIANT"])] if "TEMPLATE_VARIANT" in os.environ else pairwise_combinations()
GATE_TIMEOUT = 15 * 60
# Gates an optional module adds to its project, run with the real tools (.ci/run installs them).
MODULE_GATES = {"use_playwright": "e2e", "use_grafana_alerts": "monitoring-check", "use_kubernetes": "deploy-check"}
# Gates every project has beyond test, lint and typecheck (its CI runs them all).
COMMON_GATES = ("fuzz", "docs")
# The variants fuzz the same API: 20 examples per operation each (some 300 over the pairwise set)
# rather than a generated project's 50 keeps the tier inside CI's time. FUZZ_EXAMPLES overrides it.
FUZZ_EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "20")


# Versions the template's test machines cannot install yet (no package), and the one their
# variants run on instead: the answer itself only changes the Dockerfile and the CI matrix, which
# the fast tier checks (tests/test_python_versions.py).
NOT_INSTALLABLE = {"3.14": "3.13"}


def interpreter(version: str) -> str:
    """The python<version> executable from pyenv, or on PATH."""
    # pyenv's own folders first: its shims on PATH fail for versions not selected globally.
    installed = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    found = installed[-1] if installed else shutil.which(f"python{version}")
    if not found and version in NOT_INSTALLABLE:
        return interpreter(NOT_INSTALLABLE[version])
    assert found, f"Python {version} is not installed: the slow tier runs each variant on its python_version"
    return found


@pytest.fixture(scope="session")
def uv_cache() -> Path:
    """One uv cache for every bake (and every xdist worker): installs become hard links."""
    path = Path(os.environ.get("UV_CACHE_DIR", TEMPLATE_DIR / ".cache" / "uv"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def run_gate(project: Path, env: dict[str, str], *command: str) -> None:
    result = subprocess.run(
        list(command), cwd=project, env=env, capture_output=True, text=True, timeout=GATE_TIMEOUT, check=False
    )
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"`{' '.join(command)}` failed in {project}:\n{output}"


@pytest.mark.parametrize("answers", PAIRWISE, ids=[variant_id(answers) for answers in PAIRWISE])
def test_generated_project_passes_its_own_gates(
    cookies: Any, uv_cache: Path, request: pytest.FixtureRequest, tmp_path: Path, answers: dict[str, Any]
) -> None:
    # Numbered in the whole pairwise set: a CI job that runs one variant (TEMPLATE_VARIANT) names it alike.
    index = pairwise_combinations().index(answers)
    if index % 2:
        answers = {**answers, **UNUSUAL_NAMES}
    project = bake_ok(cookies, answers)
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(uv_cache),
        "UV_PYTHON": interpreter(answers["python_version"]),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "hardlink",
        "FUZZ_EXAMPLES": FUZZ_EXAMPLES,
    }
    env.pop("VIRTUAL_ENV", None)
    if answers["database"] == "postgresql":
        database = f"variant_{index}"
        env["TEST_DATABASE_URL"] = create_database(request.getfixturevalue("postgres_url"), database)

    # Each variant gets its own Redis: Celery workers of parallel variants must not share a queue.
    with redis_server(tmp_path / "redis") as redis:
        env["TEST_REDIS_URL"] = redis.url
        run_gate(project, env, "make", "test")
        unrefused = unrefused_import_names(installed_import_names(project))
        assert unrefused == [], f"add {unrefused} to DEPENDENCY_IMPORT_NAMES in hooks/pre_gen_project.py"
        unrefused = unrefused_distribution_names(installed_distribution_names(project))
        assert unrefused == [], f"add {unrefused} to DEPENDENCY_DISTRIBUTIONS in hooks/pre_gen_project.py"
        for target in COMMON_GATES:
            run_gate(project, env, "make", target)
        for toggle, target in MODULE_GATES.items():
            if answers[toggle]:
                run_gate(project, env, "make", target)
    # A new revision passes the linters as alembic writes it (alembic.ini's post-write hooks).
    run_gate(project, env, ".venv/bin/alembic", "revision", "-m", "an empty revision")
    run_gate(project, env, "make", "lint")
    run_gate(project, env, "make", "typecheck")
    if not (project / ".git").exists():
        run_gate(project, env, "git", "init", "-q", "-b", "main")
    run_gate(project, env, "git", "add", "-A")
    run_gate(project, env, ".venv/bin/pre-commit", "run", "--all-files")
    assert_installs_again_offline(project, env)


def test_the_lowest_versions_the_dependency_ranges_allow_pass_the_gates(
    cookies: Any, uv_cache: Path, tmp_path: Path
) -> None:
    """Every module on, each direct dependency at the lowest version its range allows, on the oldest
    Python: a team whose other constraints pull a dependency down still gets a working project."""
    modules = {name: True for name in option_space() if name.startswith("use_")}
    answers = {**modules, "python_version": "3.11", "init_git": False, "install_pre_commit": False}
    project = bake_ok(cookies, answers)
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(uv_cache),
        "UV_PYTHON": interpreter("3.11"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "hardlink",
        # Set for every target: a plain `uv sync` would lock the newest versions again.
        "UV_RESOLUTION": "lowest-direct",
        "FUZZ_EXAMPLES": FUZZ_EXAMPLES,
    }
    env.pop("VIRTUAL_ENV", None)
    with redis_server(tmp_path / "redis") as redis:
        env["TEST_REDIS_URL"] = redis.url
        for target in ("test", "fuzz", "e2e", "lint", "typecheck"):
            run_gate(project, env, "make", target)


def test_make_install_points_the_git_hook_at_the_project(cookies: Any, uv_cache: Path) -> None:
    # The bake installs the hook with whichever pre-commit it finds: the template's environment's
    # here, as under the template's `make bake`, which may be deleted later.
    project = bake_ok(cookies, {"init_git": True, "install_pre_commit": True})
    hook = project / ".git" / "hooks" / "pre-commit"
    python = interpreter(option_space()["python_version"][0])
    env = {**os.environ, "UV_CACHE_DIR": str(uv_cache), "UV_PYTHON": python, "UV_PYTHON_DOWNLOADS": "never"}

    run_gate(project, env, "make", "install")

    (line,) = [line for line in hook.read_text(encoding="utf-8").splitlines() if line.startswith("INSTALL_PYTHON=")]
    assert line.startswith(f"INSTALL_PYTHON={project / '.venv' / 'bin'}/"), line


def assert_installs_again_offline(project: Path, env: dict[str, str]) -> None:
    """With its packages cached, the variant installs again without a network, to the same lock.

    So a bake of this variant next month installs what the tests ran with (the first `make
    install` locks at the template's cut-off), and it needs nothing the cache cannot give.
    """
    first_lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert "exclude-newer" not in first_lock, "the cut-off must not stay in uv.lock"
    (project / "uv.lock").unlink()
    shutil.rmtree(project / ".venv")
    # Without compiling bytecode again: what is under test is where the packages come from.
    run_gate(project, {**env, "UV_OFFLINE": "1"}, "make", "install", "UV_COMPILE_BYTECODE=0")
    assert (project / "uv.lock").read_text(encoding="utf-8") == first_lock
