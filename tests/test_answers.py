"""Bakes with unusual answers: refused cleanly when invalid, valid files when merely hostile."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .checks import (
    PROJECT_TEMPLATE_DIR,
    ci_shell_problems,
    copied_without_render,
    dockerfile_problems,
    parse_problems,
    ruff_problems,
    text_files,
    unrendered_jinja,
    workflow_security_problems,
)
from .conftest import bake_ok
from .hook_modules import pre_gen
from .variants import TEMPLATE_DIR, optional_modules

FAST = {"init_git": False, "install_pre_commit": False}
ALL_ON = {**dict.fromkeys(optional_modules(), True), "database": "postgresql"}
# The Apache License 2.0 as apache.org publishes it (LICENSE-2.0.txt; Debian's common-licenses/Apache-2.0).
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def run_cookiecutter(output: Path, *answers: str, temp_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, with stdout and stderr in one stream in the order a terminal shows them."""
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(output), str(TEMPLATE_DIR)]
    env = {**os.environ, "TMPDIR": str(temp_dir)} if temp_dir else None
    return subprocess.run([*command, *answers], capture_output=False, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False, env=env)  # fmt: skip


def hook_copies(temp_dir: Path) -> list[str]:
    """The rendered hook scripts cookiecutter ran from ``temp_dir`` and did not delete."""
    return [path.name for path in temp_dir.glob("tmp*.py")]


@pytest.mark.parametrize(
    ("answer", "first_line"),
    [
        ("project_slug=Orders_Service", "ERROR: project_slug 'Orders_Service' is not a valid folder"),
        ("package_name=class", "ERROR: package_name 'class' is a Python keyword"),
        ("package_name=json", "ERROR: package_name 'json' would shadow a standard library module"),
        ("author_email=not-an-email", "ERROR: author_email 'not-an-email' is not an e-mail address"),
        # The pattern alone let these through, and hatchling's e-mail check crashed the first make install.
        ("author_email=jane@example..com", "ERROR: author_email 'jane@example..com' is not an e-mail address"),
        ("author_email=a<b>@example.com", "ERROR: author_email 'a<b>@example.com' is not an e-mail address"),
        ("author_email=a,b@example.com", "ERROR: author_email 'a,b@example.com' is not an e-mail address"),
        ("author_email=.jane@example.com", "ERROR: author_email '.jane@example.com' is not an e-mail address"),
        ("author_email=jane.@example.com", "ERROR: author_email 'jane.@example.com' is not an e-mail address"),
        ("author_name=Jane\nDoe", "ERROR: author_name 'Jane\\nDoe' cannot be the author in the package metadata"),
        ("project_name=3D Printer", "ERROR: project_slug '3d-printer' is not a valid folder"),
        ("project_name=", "ERROR: project_name is empty"),  # no slug to derive: the hook still runs
        ("project_name=!!!", "ERROR: project_name '!!!' has no letters or digits to make the folder and package names"),
        ("project_slug=pyjwt", "ERROR: project_slug 'pyjwt' is the name of a library the project installs"),
        # src/build would be git-ignored: the project could not import its own package.
        ("project_name=Build", "ERROR: package_name 'build' is a folder name the project's .gitignore leaves out"),
        ("package_name=__main__", "ERROR: package_name '__main__' is not a valid Python package name"),
        # The derived slug is cut short enough for a folder name (255 bytes), so the hook sees it...
        ("project_name=" + "N" * 300, "ERROR: project_slug 'nnnnnnnnnn"),
        # ...and long enough that a cut at a dash cannot leave a slug the hook accepts.
        ("project_name=" + "a" * 64 + " b" * 100, "ERROR: project_slug '" + "a" * 64 + "-b"),
    ],
)
def test_invalid_answer_is_refused_with_one_clear_first_line(tmp_path: Path, answer: str, first_line: str) -> None:
    output, temp_dir = tmp_path / "output", tmp_path / "temp"
    output.mkdir()
    temp_dir.mkdir()
    result = run_cookiecutter(output, answer, temp_dir=temp_dir)

    assert result.returncode != 0
    assert result.stdout.splitlines()[0].startswith(first_line), result.stdout
    assert list(output.iterdir()) == [], "a refused bake must leave nothing behind"
    assert hook_copies(temp_dir) == []


@pytest.mark.parametrize("slug", ["", "s" * 256])
def test_a_slug_that_cannot_be_a_folder_is_refused_before_the_hook_and_leaves_nothing(
    tmp_path: Path, slug: str
) -> None:
    # cookiecutter makes the project folder before it runs the hook: an empty slug names the output
    # folder itself ("directory already exists"), a 256-character one is an OSError (README.md says so).
    output = tmp_path / "output"
    output.mkdir()
    result = run_cookiecutter(output, f"project_slug={slug}")

    assert result.returncode != 0
    assert "ERROR:" not in result.stdout, "the hook does not run"
    assert list(output.iterdir()) == []


def test_a_bake_leaves_no_hook_copies_in_the_temp_folder(tmp_path: Path) -> None:
    temp_dir = tmp_path / "temp"
    temp_dir.mkdir()
    result = run_cookiecutter(tmp_path, "init_git=no", "install_pre_commit=no", temp_dir=temp_dir)

    assert result.returncode == 0, result.stdout
    assert hook_copies(temp_dir) == []


HOSTILE_NAMES = [
    'Bob\'s "Café" \\ 100% $HOME `id` <b>&amp;',
    "Zoë's Ünïcödé Sérvice — 東京",
    "Weird {{ '{{' }} name }} {% raw %}",
    "Tabs\tand\\nbackslash-n",
    # Renders as a GitHub expression, which would run in a CI step if a workflow put it in `run`.
    "${{ '{{' }} github.event.head_commit.message }} $(id)",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_but_legal_answers_render_valid_files(
    cookies: Any, ruff: str, shellcheck: str, hadolint: str, zizmor: str, name: str
) -> None:
    answers = {**FAST, **ALL_ON, "project_name": name, "description": name, "author_name": name,
               "project_slug": "hostile", "package_name": "hostile"}  # fmt: skip
    project = bake_ok(cookies, answers)
    texts = text_files(project)

    assert unrendered_jinja(texts) == []
    assert parse_problems(texts) == []
    assert ruff_problems(project, ruff, texts) == []
    assert ci_shell_problems(project, shellcheck) == []
    assert workflow_security_problems(project, zizmor) == []
    assert dockerfile_problems(project, hadolint) == []


@pytest.mark.parametrize(
    "longest",
    [
        # every option: use_kubernetes caps the slug, not the package name
        {**ALL_ON, "project_slug": "s" * pre_gen.MAX_KUBERNETES_SLUG_LENGTH},
        {**ALL_ON, "use_kubernetes": False, "project_slug": "s" * pre_gen.MAX_NAME_LENGTH},
    ],
    ids=["all-options", "longest-slug"],
)
def test_longest_allowed_names_pass_the_projects_own_ruff(cookies: Any, ruff: str, longest: dict[str, Any]) -> None:
    """Generated lines holding the package name must not need reformatting when the name is long."""
    longest_name = pre_gen.MAX_NAME_LENGTH
    answers = {**FAST, **longest, "project_name": "N" * longest_name, "package_name": "p" * longest_name}
    project = bake_ok(cookies, answers)

    assert ruff_problems(project, ruff, text_files(project)) == []


# Any printable text a person might type as a name: letters of any script, punctuation, symbols.
human_text = st.text(
    alphabet=st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="{}"),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=human_text, description=human_text)
def test_generated_text_files_parse_for_any_name(cookies: Any, name: str, description: str) -> None:
    answers = {**FAST, **ALL_ON, "project_name": name, "description": description, "author_name": name,
               "project_slug": "any-name", "package_name": "any_name"}  # fmt: skip
    texts = text_files(bake_ok(cookies, answers))

    assert parse_problems(texts) == []
    assert unrendered_jinja(texts) == []


def test_files_with_their_own_jinja_are_copied_byte_for_byte(cookies: Any) -> None:
    project = bake_ok(cookies, {**FAST, **ALL_ON})
    verbatim = [
        path
        for path in PROJECT_TEMPLATE_DIR.rglob("*")
        if path.is_file()
        and any(fnmatch.fnmatch(str(path.relative_to(TEMPLATE_DIR)), glob) for glob in copied_without_render())
    ]
    assert verbatim, "the web UI's HTML templates are copied without rendering"
    for source in verbatim:
        relative = str(source.relative_to(PROJECT_TEMPLATE_DIR)).replace(
            "{{cookiecutter.package_name}}", "orders_service"
        )
        assert (project / relative).read_bytes() == source.read_bytes(), relative


@pytest.mark.parametrize(
    ("license_answer", "spdx", "first_lines"),
    [
        ("MIT", "MIT", ["MIT License", "", "Copyright (c) Zoë O'Brien & Co", ""]),
        ("Apache-2.0", "Apache-2.0", ["", " " * 33 + "Apache License", " " * 27 + "Version 2.0, January 2004"]),
        ("Proprietary", "LicenseRef-Proprietary", ["Copyright (c) Zoë O'Brien & Co. All rights reserved.", ""]),
    ],
)
def test_each_licence_answer_gives_its_license_file(
    cookies: Any, license_answer: str, spdx: str, first_lines: list[str]
) -> None:
    project = bake_ok(cookies, {**FAST, "license": license_answer, "author_name": "Zoë O'Brien & Co"})
    text = (project / "LICENSE").read_text(encoding="utf-8")
    project_table = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    assert text.splitlines()[: len(first_lines)] == first_lines
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert project_table["license"] == spdx
    assert project_table["license-files"] == ["LICENSE"]
    if license_answer == "MIT":
        assert "Permission is hereby granted, free of charge" in text
    elif license_answer == "Apache-2.0":
        assert hashlib.sha256(text.encode()).hexdigest() == APACHE_2_0_SHA256, "the standard text, verbatim"
    else:
        assert "No licence is granted" in text


def test_licence_holder_falls_back_to_the_project_when_author_name_is_blank(cookies: Any) -> None:
    project = bake_ok(cookies, {**FAST, "license": "MIT", "author_name": " ", "owner": "orders"})

    assert "Copyright (c) The Orders Service authors\n" in (project / "LICENSE").read_text(encoding="utf-8")
