"""The fast tier's checks find what they are there to find (a check that cannot fail proves nothing)."""

from __future__ import annotations

from typing import Any

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
    workflow_security_problems,
)
from .conftest import bake_ok
from .variants import option_space

# The defaults (vault off), without the git and pre-commit steps of the hook.
DEFAULTS = {key: values[0] for key, values in option_space().items()} | {"init_git": False, "install_pre_commit": False}


def test_a_disabled_module_mentioned_in_any_case_is_reported(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    answers = {**DEFAULTS, "package_name": "orders_service"}
    assert manifest_problems(project, text_files(project), answers) == []

    (project / "docs" / "notes.md").write_text("Secrets come from HVAC.\n", encoding="utf-8")
    (project / "vault-policy.hcl").write_text("", encoding="utf-8")

    assert manifest_problems(project, text_files(project), answers) == [
        "vault is disabled but path vault-policy.hcl mentions 'vault'",
        "vault is disabled but docs/notes.md mentions 'hvac'",
    ]


def test_env_must_be_the_example_with_fresh_secrets(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert env_file_problems(project) == []
    env = project / ".env"
    lines = env.read_text(encoding="utf-8").splitlines()
    secret = next(number for number, line in enumerate(lines) if line.startswith("SECRET_KEY="))

    lines[secret] = "SECRET_KEY=change-me"
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert env_file_problems(project) == [f".env line {secret + 1}: SECRET_KEY= has no fresh secret"]

    lines[secret] = "SECRET_KEY=" + "x" * 48
    lines[0] += " edited"
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert env_file_problems(project) == [".env line 1 differs from .env.example"]


def test_env_with_a_line_added_is_reported(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    with (project / ".env").open("a", encoding="utf-8") as env:
        env.write("EXTRA=1\n")
    example_lines = len((project / ".env.example").read_text(encoding="utf-8").splitlines())
    assert env_file_problems(project) == [f".env has {example_lines + 1} lines, .env.example {example_lines}"]


def test_a_module_missing_from_the_readme_tree_is_reported(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert readme_tree_problems(project) == []
    package = project / "src" / "orders_service"

    (package / "core" / "clock.py").write_text("", encoding="utf-8")
    (package / "mail" / "templates.py").write_text("", encoding="utf-8")  # mail/ is summed up in one line

    assert readme_tree_problems(project) == [
        "README.md's architecture tree does not name src/orders_service/core/clock.py"
    ]


def test_a_heading_run_into_its_neighbour_is_reported(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert parse_problems(text_files(project)) == []
    notes = project / "docs" / "notes.md"

    notes.write_text("# Notes\n\nOne paragraph.## Next\n\n```sh\n# a comment, not a heading\n```\n", encoding="utf-8")
    assert parse_problems(text_files(project)) == [
        "docs/notes.md line 3: a heading glued to the text before it: One paragraph.## Next"
    ]

    notes.write_text("# Notes\n\nOne paragraph.\n## Next\n", encoding="utf-8")
    assert parse_problems(text_files(project)) == ["docs/notes.md line 4: no blank line before the heading '## Next'"]


def test_a_pyproject_table_of_the_wrong_shape_is_reported(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")

    pyproject.write_text(text.replace("dependencies = [", 'dependencies = "fastapi"\nunused = [', 1), encoding="utf-8")

    assert parse_problems(text_files(project)) == [
        "pyproject.toml: ValidationError: `project.dependencies` must be array"
    ]


def test_ruff_checks_again_whenever_a_file_it_reads_changes(cookies: Any, ruff: str) -> None:
    """ruff runs once per distinct set of the files it reads: a change to any of them is checked."""
    project = bake_ok(cookies, DEFAULTS)
    assert ruff_problems(project, ruff, text_files(project)) == []
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")

    pyproject.write_text(text.replace("line-length = 120", "line-length = 40"), encoding="utf-8")
    problems = ruff_problems(project, ruff, text_files(project))
    assert "format:\n" in problems[-1]
    assert "would be reformatted" in problems[-1]

    pyproject.write_text(text, encoding="utf-8")
    with (project / "src" / "orders_service" / "about.py").open("a", encoding="utf-8") as module:
        module.write("\n\nimport os\n")
    [lint_problem] = ruff_problems(project, ruff, text_files(project))
    assert "check:\n" in lint_problem
    assert "F401" in lint_problem


def test_shell_in_the_ci_files_is_checked(cookies: Any, shellcheck: str) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert ci_shell_problems(project, shellcheck) == []

    (project / ".github" / "workflows" / "extra.yml").write_text(
        "on: push\njobs:\n  copy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - name: Copy\n        run: cp build/* ${{ runner.temp }}/$TARGET\n",
        encoding="utf-8",
    )
    # GitLab's image jobs run POSIX sh, where [[ ]] does not exist.
    (project / ".gitlab-ci.yml").write_text(
        "check:\n  script:\n    - '[[ -n \"$CI\" ]] && echo ok'\n", encoding="utf-8"
    )

    assert ci_shell_problems(project, shellcheck) == [
        "extra.yml copy 'Copy': note: Double quote to prevent globbing and word splitting. [SC2086]",
        ".gitlab-ci.yml check script: warning: In POSIX sh, [[ ]] is undefined. [SC3010]",
    ]


def test_a_setting_the_readme_does_not_name_is_reported(cookies: Any) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert undocumented_settings(project) == []

    settings = next((project / "src").iterdir()) / "settings.py"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(
        text.replace("class Settings(BaseSettings):\n", "class Settings(BaseSettings):\n    page_size: int = 50\n")
    )

    assert undocumented_settings(project) == ["README.md does not document the setting PAGE_SIZE"]


def test_a_workflow_security_finding_is_reported(cookies: Any, zizmor: str) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert workflow_security_problems(project, zizmor) == []

    (project / ".github" / "workflows" / "extra.yml").write_text(
        "on: push\npermissions: {}\njobs:\n  greet:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n        with:\n          persist-credentials: false\n"
        '      - run: echo "${{ github.event.head_commit.message }}"\n',
        encoding="utf-8",
    )

    assert workflow_security_problems(project, zizmor) == [
        "extra.yml:10 template-injection: may expand into attacker-controllable code",
        "extra.yml:7 unpinned-uses: action is not pinned to a hash (required by blanket policy)",
    ]


def test_a_dockerfile_finding_is_reported(cookies: Any, hadolint: str) -> None:
    project = bake_ok(cookies, DEFAULTS)
    assert dockerfile_problems(project, hadolint) == []

    dockerfile = project / "Dockerfile"
    last_line = len(dockerfile.read_text(encoding="utf-8").splitlines()) + 1
    with dockerfile.open("a", encoding="utf-8") as lines:
        lines.write("USER root\n")

    assert dockerfile_problems(project, hadolint) == [
        f"Dockerfile:{last_line} DL3002 warning: Last USER should not be root",
        f"Dockerfile:{last_line} DL3066 info: Non-numeric user-id may not be resolvable by host system",
    ]
