"""Fast tier: bake every combination of the options and check the rendered project offline."""

from __future__ import annotations

from typing import Any

import pytest

from .backstage import entity_problems
from .checks import (
    ci_shell_problems,
    dockerfile_problems,
    env_file_problems,
    manifest_problems,
    parse_problems,
    readme_tree_problems,
    ruff_problems,
    unrendered_jinja,
)
from .conftest import bake_ok
from .variants import all_combinations, variant_id

COMBINATIONS = list(all_combinations())


@pytest.mark.parametrize("answers", COMBINATIONS, ids=[variant_id(answers) for answers in COMBINATIONS])
def test_combination_renders_clean_project(
    cookies: Any, ruff: str, shellcheck: str, hadolint: str, answers: dict[str, Any]
) -> None:
    project = bake_ok(cookies, answers)
    answers = {**answers, "package_name": "orders_service"}

    problems = unrendered_jinja(project) + parse_problems(project) + manifest_problems(project, answers)
    problems += entity_problems(project / "catalog-info.yaml")
    problems += ruff_problems(project, ruff) + env_file_problems(project)
    problems += readme_tree_problems(project)
    problems += ci_shell_problems(project, shellcheck) + dockerfile_problems(project, hadolint)

    assert problems == []
