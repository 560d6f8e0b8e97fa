"""The newest python_version answer reaches the Docker image and the top of the CI matrix.

Checked in the rendered files, since the test machines cannot install every Python offered (see
README.md, "Testing the template")."""

from __future__ import annotations

from typing import Any

import pytest

from .checks import YAML_1_2
from .conftest import bake_ok
from .variants import option_space

FAST = {"init_git": False, "install_pre_commit": False}
NEWEST = option_space()["python_version"][0]


def test_the_newest_python_is_the_default() -> None:
    assert max(option_space()["python_version"], key=lambda version: tuple(map(int, version.split(".")))) == NEWEST


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_the_image_and_the_ci_matrix_follow_the_answer(cookies: Any, ci: str) -> None:
    project = bake_ok(cookies, {**FAST, "ci": ci, "python_version": NEWEST})

    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count(f"FROM python:{NEWEST}-slim AS") == 2
    if ci == "github":
        workflow = YAML_1_2.load((project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
        matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    else:
        pipeline = YAML_1_2.load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
        matrix = pipeline["test"]["parallel"]["matrix"][0]["PYTHON_VERSION"]
        assert pipeline["variables"]["PYTHON_VERSION"] == NEWEST
    assert matrix == [f"3.{minor}" for minor in range(11, int(NEWEST.split(".")[1]) + 1)]
