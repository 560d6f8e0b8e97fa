"""Fast tier: render every combination of the options and check the project offline.

Every combination is written by the assembly (tests/assembly.py), which renders each template
file once per distinct set of the answers it reads; the pairwise set is also baked by cookiecutter,
and each bake must equal its assembled project byte for byte.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from .assembly import context_for, renderer
from .backstage import entity_problems
from .checks import (
    ci_shell_problems,
    dockerfile_problems,
    env_file_problems,
    manifest_problems,
    parse_problems,
    readme_tree_problems,
    ruff_problems,
    text_files,
    undocumented_settings,
    unrendered_jinja,
    zizmor_problems,
)
from .conftest import bake_ok
from .variants import all_combinations, pairwise_combinations, variant_id

COMBINATIONS = list(all_combinations())
# The hooks' git and pre-commit steps are tested on their own (test_bake_tools, test_hooks).
PAIRWISE = [{**answers, "init_git": False, "install_pre_commit": False} for answers in pairwise_combinations()]


@pytest.mark.parametrize("answers", COMBINATIONS, ids=[variant_id(answers) for answers in COMBINATIONS])
def test_combination_renders_clean_project(
    tmp_path: Path, ruff: str, shellcheck: str, hadolint: str, answers: dict[str, Any]
) -> None:
    project = renderer().write(answers, tmp_path)
    answers = {**answers, "package_name": "orders_service"}

    texts = text_files(project)
    problems = unrendered_jinja(texts) + parse_problems(texts) + manifest_problems(project, texts, answers)
    problems += entity_problems(project / "catalog-info.yaml")
    problems += ruff_problems(project, ruff, texts) + env_file_problems(project)
    problems += readme_tree_problems(project) + undocumented_settings(project)
    problems += ci_shell_problems(project, shellcheck) + dockerfile_problems(project, hadolint)

    assert problems == []


def test_every_combination_s_github_workflow_passes_zizmor(tmp_path: Path, zizmor: str) -> None:
    """Each distinct workflow the combinations render, named after the first combination that renders
    it, in one run of zizmor (a run for each combination took half a minute of this tier)."""
    assembly = renderer()
    workflow = next(file for file in assembly.files if file.source == ".github/workflows/ci.yml")
    named: dict[str, str] = {}
    for answers in COMBINATIONS:
        if answers["ci"] == "github":
            named.setdefault(assembly.text(workflow, context_for(answers, tmp_path)), f"{variant_id(answers)}.yml")
    assert len(named) > 1
    assert zizmor_problems(zizmor, {name: text for text, name in named.items()}) == []


@pytest.mark.parametrize("answers", PAIRWISE, ids=[variant_id(answers) for answers in PAIRWISE])
def test_assembled_project_is_what_cookiecutter_bakes(cookies: Any, tmp_path: Path, answers: dict[str, Any]) -> None:
    baked = bake_ok(cookies, answers)
    assembled = renderer().write(answers, tmp_path)

    assert assembled.name == baked.name
    assembled_files, baked_files = files(assembled), files(baked)
    differing = [
        path for path in sorted(assembled_files | baked_files) if assembled_files.get(path) != baked_files.get(path)
    ]
    assert differing == []


def files(project: Path) -> dict[str, tuple[int, bytes]]:
    """Relative path -> (permission bits, content) of every file and folder.

    .env keeps only its keys: its secrets are random, and test_combination_renders_clean_project
    checks that it is .env.example with a fresh secret on each placeholder line."""
    found = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        content = b"" if path.is_dir() else path.read_bytes()
        if relative == ".env":
            content = b"\n".join(line.split(b"=")[0] for line in content.splitlines())
        found[relative] = (stat.S_IMODE(path.stat().st_mode), content)
    return found
