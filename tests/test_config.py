"""Organisation defaults (--config-file), replay and cruft, through the real command lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import tree
from .variants import TEMPLATE_DIR

FAST = ["init_git=no", "install_pre_commit=no"]


def cookiecutter(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A private HOME keeps the user's ~/.cookiecutterrc and replay folder out of the test.
    env = {**os.environ, "HOME": str(home)}
    env.pop("COOKIECUTTER_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", *args], env=env, capture_output=True, text=True, check=True
    )


def test_config_file_applies_organisation_defaults(tmp_path: Path) -> None:
    config = yaml.safe_load((TEMPLATE_DIR / "examples" / "org-defaults.yaml").read_text(encoding="utf-8"))
    config["replay_dir"] = str(tmp_path / "replay")
    config["cookiecutters_dir"] = str(tmp_path / "cookiecutters")
    config_file = tmp_path / "org.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")

    cookiecutter(tmp_path, "--no-input", "--config-file", str(config_file), "-o", str(tmp_path / "out"),
                 str(TEMPLATE_DIR), "project_name=Refunds", *FAST)  # fmt: skip

    replayed = json.loads((tmp_path / "replay" / f"{TEMPLATE_DIR.name}.json").read_text(encoding="utf-8"))
    answers = replayed["cookiecutter"]
    assert answers["project_slug"] == "refunds"
    for key, value in config["default_context"].items():
        assert answers[key] == value, key
    project = tmp_path / "out" / "refunds"
    assert (project / ".gitlab-ci.yml").exists()
    assert not (project / ".github").exists()


def test_a_default_cookiecutter_cannot_use_is_ignored_with_every_one_after_it(tmp_path: Path) -> None:
    """What README.md warns platform teams of: cookiecutter warns, then generates without them."""
    config = {
        "default_context": {"license": "Proprietary", "python_version": 3.12, "ci": "gitlab"},  # 3.12 unquoted
        "replay_dir": str(tmp_path / "replay"),
        "cookiecutters_dir": str(tmp_path / "cookiecutters"),
    }
    config_file = tmp_path / "org.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")  # in the order written

    result = cookiecutter(tmp_path, "--no-input", "--config-file", str(config_file), "-o", str(tmp_path / "out"),
                          str(TEMPLATE_DIR), "project_name=Refunds", *FAST)  # fmt: skip

    assert "Invalid default received" in result.stderr
    assert "Generated refunds: FastAPI service, sqlite, GitHub Actions" in result.stdout + result.stderr
    answers = json.loads((tmp_path / "replay" / f"{TEMPLATE_DIR.name}.json").read_text(encoding="utf-8"))[
        "cookiecutter"
    ]
    assert answers["license"] == "Proprietary"  # before the bad value
    assert (answers["python_version"], answers["ci"]) == ("3.14", "github")  # the bad value and the one after it


def test_replay_generates_the_same_project_again(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"replay_dir": str(tmp_path / "replay")}), encoding="utf-8")
    first, second = tmp_path / "first", tmp_path / "second"
    cookiecutter(tmp_path, "--no-input", "--config-file", str(config_file), "-o", str(first), str(TEMPLATE_DIR),
                 "project_name=Ledger", "ci=none", "use_docker=no", *FAST)  # fmt: skip
    cookiecutter(tmp_path, "--replay", "--config-file", str(config_file), "-o", str(second), str(TEMPLATE_DIR))

    assert tree(first / "ledger", ignore={".env"}) == tree(second / "ledger", ignore={".env"})
    assert not (second / "ledger" / "compose.yaml").exists()


def test_cruft_create_matches_cookiecutter_and_is_up_to_date(tmp_path: Path, template_repo: Path) -> None:
    cruft = Path(sys.executable).parent / "cruft"
    answers = ["--extra-context", json.dumps({"use_celery": True, "ci": "gitlab"})]
    subprocess.run([str(cruft), "create", "--no-input", "--output-dir", str(tmp_path / "cruft"), *answers, str(template_repo)],
                   check=True, capture_output=True)  # fmt: skip
    cookiecutter(tmp_path, "--no-input", "-o", str(tmp_path / "plain"), str(template_repo),
                 "use_celery=yes", "ci=gitlab")  # fmt: skip

    created, plain = tmp_path / "cruft" / "orders-service", tmp_path / "plain" / "orders-service"
    assert tree(created, ignore={".env", ".cruft.json"}) == tree(plain, ignore={".env"})
    assert (created / ".git").is_dir(), "the hooks ran under cruft too"
    state = json.loads((created / ".cruft.json").read_text(encoding="utf-8"))
    assert state["context"]["cookiecutter"]["use_celery"] is True
    subprocess.run([str(cruft), "check"], cwd=created, check=True, capture_output=True)
