"""Shared fixtures: baking through pytest-cookies and locating the tools the checks run."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def ruff() -> str:
    """The ruff executable next to the interpreter running the tests (or on PATH)."""
    candidate = Path(sys.executable).parent / "ruff"
    found = str(candidate) if candidate.exists() else shutil.which("ruff")
    assert found, "ruff is not installed: pip install -e '.[test]' (see README)"
    return found


def bake_ok(cookies: Any, answers: dict[str, Any]) -> Path:
    """Bake with these answers and return the project folder, failing with cookiecutter's error."""
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, f"bake failed for {answers}: {result.exception!r}"
    assert result.exit_code == 0
    return Path(result.project_path)
