"""The post-generation hook's git and pre-commit steps, with the tools present and missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import bake_ok
from .variants import TEMPLATE_DIR


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout


def test_default_bake_has_one_commit_and_the_pre_commit_hook(cookies: Any) -> None:
    project = bake_ok(cookies, {})

    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(project, "branch", "--show-current").strip() == "main"
    assert git(project, "status", "--porcelain") == "", "the first commit must hold every generated file"
    hook = project / ".git" / "hooks" / "pre-commit"
    assert hook.exists()
    assert "pre-commit" in hook.read_text(encoding="utf-8")
    tracked = git(project, "ls-files").splitlines()
    assert ".env" not in tracked
    assert ".env.example" in tracked


def test_bake_without_git_pre_commit_or_uv_succeeds_with_warnings(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(tmp_path), str(TEMPLATE_DIR)],
        env={**os.environ, "PATH": str(empty_bin)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING: ")]
    assert [line.split(":")[1].strip() for line in warnings] == [
        "git not found",
        "no git repository, so the pre-commit hook was not installed",
        "uv not found",
    ]
    project = tmp_path / "orders-service"
    assert (project / ".env").exists()
    assert not (project / ".git").exists()
    assert "make run" in result.stdout
    assert "make test" in result.stdout
