"""Shared fixtures: baking through pytest-cookies and locating the tools the checks run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .variants import TEMPLATE_DIR


def pytest_configure(config: pytest.Config) -> None:
    # The post-generation hook looks for git and pre-commit on PATH: put this environment's first.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # pytest-cookies bakes the template named by --template; default to this repository
    # whatever directory pytest was started from.
    if config.getoption("template", default=".") == ".":
        config.option.template = str(TEMPLATE_DIR)


def tool_path(name: str) -> str:
    """An executable of the test group, next to the interpreter running the tests (or on PATH)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    assert found, f"{name} is not installed: make install (see README)"
    return found


@pytest.fixture(scope="session")
def ruff() -> str:
    return tool_path("ruff")


@pytest.fixture(scope="session")
def shellcheck() -> str:
    return tool_path("shellcheck")


@pytest.fixture(scope="session")
def hadolint() -> str:
    return tool_path("hadolint")


@pytest.fixture(scope="session")
def zizmor() -> str:
    return tool_path("zizmor")


def bake_ok(cookies: Any, answers: dict[str, Any]) -> Path:
    """Bake with these answers and return the project folder, failing with cookiecutter's error."""
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, f"bake failed for {answers}: {result.exception!r}"
    assert result.exit_code == 0
    return Path(result.project_path)


def tree(root: Path, ignore: set[str]) -> dict[str, bytes]:
    """Relative path -> content of every file outside .git."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts and path.name not in ignore
    }


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """This template's working tree (committed or not) as a fresh git repository, as cruft needs."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=TEMPLATE_DIR, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    repo = tmp_path / "template"
    for relative in filter(None, listed):
        if (TEMPLATE_DIR / relative).is_file():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_DIR / relative, repo / relative)
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "template"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *command], cwd=repo, check=True)
    return repo
