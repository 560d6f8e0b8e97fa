"""Unit tests of the hook functions, imported as plain modules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .checks import PROJECT_TEMPLATE_DIR, manifest_features, unrefused_distribution_names, unrefused_import_names
from .conftest import bake_ok
from .hook_modules import post_gen, pre_gen
from .variants import option_space, optional_modules

VALID = {
    "project_name": "Orders Service",
    "project_slug": "orders-service",
    "package_name": "orders_service",
    "author_email": "jane@example.com",
    "owner": "jane-developer",
    "system": "",
    "version": "0.1.0",
    "use_sentry": False,
}


@pytest.mark.parametrize(
    ("owner", "system"), [("team-orders", "shop"), ("group:default/orders_team", "system:shop.eu"), ("Jane", "")]
)
def test_backstage_entity_references_are_accepted(owner: str, system: str) -> None:
    assert pre_gen.validate({**VALID, "owner": owner, "system": system}) == []


def test_valid_answers_have_no_problems() -> None:
    assert pre_gen.validate(VALID) == []


def test_kubernetes_limits_the_slug_to_what_its_names_allow() -> None:
    slug = "a" * 47  # "<slug>-purge" names a CronJob, at most 52 characters
    assert pre_gen.validate({**VALID, "project_slug": slug}) == []
    problems = pre_gen.validate({**VALID, "project_slug": slug, "use_kubernetes": True})
    assert problems == [
        f"project_slug {slug!r} is too long for use_kubernetes: the Kubernetes names made from it allow at most 46"
        " characters"
    ]
    assert pre_gen.validate({**VALID, "project_slug": slug[:46], "use_kubernetes": True}) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("project_slug", "Orders_Service", "project_slug 'Orders_Service' is not a valid folder"),
        ("project_slug", "-orders", "project_slug '-orders'"),
        ("project_slug", "orders-", "project_slug 'orders-'"),
        ("project_slug", "orders--service", "project_slug 'orders--service'"),
        ("project_slug", "", "project_slug ''"),
        ("project_slug", "a" * 65, "at most 64 characters"),
        ("project_slug", "3d-printer", "project_slug '3d-printer' is not a valid folder"),
        ("package_name", "migrations", "package_name 'migrations' would shadow a standard library module or a folder"),
        ("package_name", "colorama", "package_name 'colorama' would shadow a library"),
        ("package_name", "type", "package_name 'type' is a Python keyword"),  # soft keyword since 3.12
        ("package_name", "imghdr", "package_name 'imghdr' would shadow a standard library module"),  # until 3.12
        ("package_name", "annotationlib", "package_name 'annotationlib' would shadow a standard library module"),
        ("package_name", "3d_service", "package_name '3d_service' is not a valid Python package name"),
        ("package_name", "orders-service", "package_name 'orders-service' is not a valid Python package name"),
        ("package_name", "class", "package_name 'class' is a Python keyword"),
        ("package_name", "match", "package_name 'match' is a Python keyword"),
        ("package_name", "test", "package_name 'test' would shadow a standard library module"),
        ("package_name", "json", "package_name 'json' would shadow a standard library module"),
        ("package_name", "fastapi", "package_name 'fastapi' would shadow a library"),
        ("package_name", "requests", "package_name 'requests' would shadow a library"),
        ("package_name", "dist", "package_name 'dist' is a folder name the project's .gitignore leaves out"),
        ("package_name", "__main__", "package_name '__main__' is not a valid Python package name"),
        ("package_name", "_orders", "package_name '_orders' is not a valid Python package name"),
        ("package_name", "p" * 65, "at most 64 characters"),
        ("author_email", "jane", "author_email 'jane' is not an e-mail address"),
        ("author_email", "jane@example", "author_email 'jane@example' is not an e-mail address"),
        ("author_email", "ja ne@example.com", "author_email 'ja ne@example.com'"),
        ("version", "one", "version 'one' is not a PEP 440 version"),
        ("project_name", "   ", "project_name is empty"),
        ("owner", "", "owner '' is not a Backstage entity reference"),
        ("owner", "Orders Team", "owner 'Orders Team' is not a Backstage entity reference"),
        ("owner", "group:Default/orders", "owner 'group:Default/orders'"),
        ("system", "shop-", "system 'shop-' is not a Backstage entity reference"),
        ("use_sentry", "maybe", "use_sentry must be true or false, not 'maybe'"),
        ("project_slug", "pyjwt", "project_slug 'pyjwt' is the name of a library the project installs"),
        ("project_slug", "python-dotenv", "project_slug 'python-dotenv' is the name of a library the project"),
    ],
)
def test_each_bad_answer_gives_one_clear_problem(key: str, value: Any, expected: str) -> None:
    problems = pre_gen.validate({**VALID, key: value})
    assert len(problems) == 1
    assert expected in problems[0]


def test_a_name_without_letters_or_digits_is_one_problem_that_says_what_to_answer() -> None:
    # What cookiecutter.json derives from such a name.
    problems = pre_gen.validate({**VALID, "project_name": "!!!", "project_slug": "-", "package_name": "_"})
    assert problems == [
        "project_name '!!!' has no letters or digits to make the folder and package names of:"
        " answer project_slug=... and package_name=... too"
    ]


def test_the_installed_libraries_check_names_each_distribution_the_hook_accepts() -> None:
    # The slow tier runs this check on every installed variant's .venv; here, on names we choose.
    distribution_names = {"pyjwt", "fastapi", "left-pad", "types-pyyaml", "_private", "zope-interface"}
    assert unrefused_distribution_names(distribution_names) == ["left-pad", "zope-interface"]


def test_the_installed_libraries_check_names_each_import_name_the_hook_accepts() -> None:
    # The slow tier runs this check on every installed variant's .venv; here, on names we choose.
    import_names = {"requests", "_pytest", "json", "yaml-stubs", "c787785866c7b801238d__mypyc", "left_pad", "_left"}
    assert unrefused_import_names(import_names) == ["left_pad"]


def ignored_folder_names() -> set[str]:
    """The names a package could have that the project's .gitignore or .dockerignore leaves out: each
    pattern that is a Python identifier once its slashes are stripped (every Jinja condition counts)."""
    names = set()
    for ignore_file in (".gitignore", ".dockerignore"):
        for line in (PROJECT_TEMPLATE_DIR / ignore_file).read_text(encoding="utf-8").splitlines():
            name = line.strip().removeprefix("**/").strip("/")
            if name.isidentifier():
                names.add(name)
    return names


def test_every_folder_name_the_project_ignores_is_refused_as_package_name() -> None:
    # src/<package> would be ignored too: git, the wheel and ruff would leave the code out.
    names = ignored_folder_names()
    assert {"build", "dist", "htmlcov", "site", "__pycache__"} <= names, "the ignore files were read"
    assert [name for name in sorted(names) if not pre_gen.package_problems(name)] == []


def test_every_boolean_of_cookiecutter_json_is_checked_by_the_hook() -> None:
    booleans = [key for key, values in option_space().items() if isinstance(values[0], bool)]
    assert booleans, "cookiecutter.json has boolean options"
    for key in booleans:
        assert pre_gen.validate({**VALID, key: "no"}) == [f"{key} must be true or false, not 'no'"]


def test_every_optional_module_owns_one_manifest_feature() -> None:
    # Features with a longer condition own the files a module adds only together with another
    # option (e.g. the Kubernetes Celery workers).
    module_conditions = [
        key
        for feature in manifest_features().values()
        if len(feature["when"]) == 1
        for key in feature["when"]
        if key.startswith("use_")
    ]
    assert sorted(module_conditions) == sorted(optional_modules())


def test_pre_gen_main_prints_error_lines_and_fails(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(pre_gen, "ANSWERS_JSON", json.dumps({**VALID, "package_name": "json", "version": "x"}))
    assert pre_gen.main() == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("ERROR: ") for line in lines)


def test_manifest_paths_are_disjoint_and_exist_in_the_template() -> None:
    seen: set[str] = set()
    for name, feature in manifest_features().items():
        assert set(feature) == {"when", "paths", "mentions"}, name
        for path in feature["paths"]:
            assert path not in seen, f"{path} belongs to two features"
            seen.add(path)
            template_path = PROJECT_TEMPLATE_DIR / path.replace("{package}", "{{cookiecutter.package_name}}")
            assert template_path.exists(), f"{name}: {path} is not in the template"


def test_is_enabled_matches_booleans_and_choices() -> None:
    assert post_gen.is_enabled({"use_sentry": True}, {"use_sentry": True})
    assert not post_gen.is_enabled({"use_sentry": True}, {"use_sentry": False})
    assert post_gen.is_enabled({"ci": "gitlab"}, {"ci": "gitlab"})
    assert not post_gen.is_enabled({"ci": "gitlab"}, {"ci": "github"})


def _fake_project(tmp_path: Path, features: dict[str, Any]) -> Path:
    (tmp_path / post_gen.MANIFEST_NAME).write_text(json.dumps({"features": features}), encoding="utf-8")
    return tmp_path


def test_prune_removes_disabled_paths_empty_parents_and_the_manifest(tmp_path: Path) -> None:
    features = {
        "extra": {"when": {"use_extra": True}, "paths": ["src/{package}/extra", "docs/extra.md"], "mentions": []},
        "kept": {"when": {"use_kept": True}, "paths": ["kept.txt"], "mentions": []},
    }
    project = _fake_project(tmp_path, features)
    (project / "src/pkg/extra").mkdir(parents=True)
    (project / "src/pkg/extra/module.py").write_text("", encoding="utf-8")
    (project / "src/pkg/main.py").write_text("", encoding="utf-8")
    (project / "docs").mkdir()
    (project / "docs/extra.md").write_text("", encoding="utf-8")
    (project / "kept.txt").write_text("", encoding="utf-8")

    removed = post_gen.prune(project, {"package_name": "pkg", "use_extra": False, "use_kept": True})

    assert removed == ["src/pkg/extra", "docs/extra.md"]
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == [
        "kept.txt",
        "src",
        "src/pkg",
        "src/pkg/main.py",
    ]


def test_write_env_replaces_placeholders_and_keeps_an_existing_env(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(
        "# comment with change-me\nSECRET_KEY=change-me\nDB_PASSWORD=change-me\nLOG_LEVEL=INFO\n", encoding="utf-8"
    )
    tokens = iter(["first", "second"])
    assert post_gen.write_env(tmp_path, token=lambda: next(tokens))
    env = tmp_path / ".env"
    assert env.read_text(encoding="utf-8") == (
        "# comment with change-me\nSECRET_KEY=first\nDB_PASSWORD=second\nLOG_LEVEL=INFO\n"
    )
    assert env.stat().st_mode & 0o777 == 0o600

    env.write_text("SECRET_KEY=mine\n", encoding="utf-8")
    assert not post_gen.write_env(tmp_path)
    assert env.read_text(encoding="utf-8") == "SECRET_KEY=mine\n"


def test_default_secret_is_long_and_random(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("SECRET_KEY=change-me\n", encoding="utf-8")
    post_gen.write_env(tmp_path)
    first = (tmp_path / ".env").read_text(encoding="utf-8")
    (tmp_path / ".env").unlink()
    post_gen.write_env(tmp_path)
    assert first != (tmp_path / ".env").read_text(encoding="utf-8")
    assert len(first.strip().split("=", 1)[1]) >= 48


GIT_IDENTITY_VARIABLES = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")


@pytest.fixture
def git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own with no git identity anywhere: not in config, not in the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in GIT_IDENTITY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return home


def test_first_commit_uses_the_author_when_no_identity_is_configured(tmp_path: Path, git_home: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("hello\n", encoding="utf-8")
    warnings: list[str] = []

    answers = {"author_name": "Zoë O'Brien", "author_email": "zoe@example.com"}
    ok = post_gen.create_repository(project, warnings.append) and post_gen.commit_everything(
        project, answers, warnings.append
    )

    assert ok, warnings
    author = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>|%s"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert author == "Zoë O'Brien <zoe@example.com>|Initial commit"
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=project, capture_output=True, text=True)
    assert branch.stdout.strip() == "main"
    assert not (git_home / ".gitconfig").exists()


def test_first_commit_keeps_a_configured_identity(tmp_path: Path, git_home: Path) -> None:
    (git_home / ".gitconfig").write_text("[user]\n\tname = Configured Name\n\temail = configured@example.com\n")

    env = post_gen.git_identity_env(tmp_path, "Template Author", "author@example.com")

    assert not set(GIT_IDENTITY_VARIABLES) & set(env)


def test_an_empty_configured_name_counts_as_missing(tmp_path: Path, git_home: Path) -> None:
    (git_home / ".gitconfig").write_text("[user]\n\tname =\n\temail = configured@example.com\n")

    env = post_gen.git_identity_env(tmp_path, "Template Author", "author@example.com")

    assert {key: env.get(key) for key in GIT_IDENTITY_VARIABLES} == {
        "GIT_AUTHOR_NAME": "Template Author",
        "GIT_AUTHOR_EMAIL": None,
        "GIT_COMMITTER_NAME": "Template Author",
        "GIT_COMMITTER_EMAIL": None,
    }


def test_a_commit_before_make_install_stops_with_one_line_saying_so(cookies: Any, git_home: Path) -> None:
    # The real git hook that the bake installs, run by a real commit in a project with no .venv.
    # (The slow tier runs the same hooks after `make install`, where they pass.)
    project = bake_ok(cookies, {"init_git": True, "install_pre_commit": True})
    with (project / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("A first edit.\n")

    identity = {"GIT_AUTHOR_NAME": "Jane", "GIT_COMMITTER_NAME": "Jane"} | dict.fromkeys(
        ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"), "jane@example.com"
    )
    commit = subprocess.run(
        ["git", "commit", "-am", "First edit"], cwd=project, env={**os.environ, **identity},
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    output = commit.stdout + commit.stderr
    assert commit.returncode != 0, output
    assert [line for line in output.splitlines() if "make install" in line] == [
        "pre-commit: the project tools are not installed: run `make install`"
    ], output
    assert "not found" not in output
    assert "ruff check" not in output, "no hook runs after the first one fails"


def test_missing_tools_give_one_warning_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    warnings: list[str] = []
    assert not post_gen.create_repository(tmp_path, warnings.append)
    (tmp_path / ".git").mkdir()
    assert not post_gen.PreCommitInstall(tmp_path, warnings.append).wait()
    assert len(warnings) == 2
    assert warnings[0].startswith("git not found")
    assert warnings[1].startswith("pre-commit not found")


def test_summary_names_modules_and_the_two_commands(tmp_path: Path) -> None:
    answers = {"database": "postgresql", "ci": "gitlab", "use_celery": True, "use_docker": False}
    text = post_gen.summary(tmp_path / "orders-service", answers)
    assert "postgresql, GitLab CI; modules: celery." in text
    assert "make run" in text
    assert "make test" in text


@pytest.mark.parametrize(
    ("shell_folder", "expected"),
    [
        ("{tmp}", "  cd build/orders-service"),  # make bake: output below the shell's folder
        ("{tmp}/elsewhere", "  cd {tmp}/build/orders-service"),
        (None, "  cd {tmp}/build/orders-service"),
    ],
)
def test_summary_says_how_to_reach_the_project_from_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell_folder: str | None, expected: str
) -> None:
    if shell_folder is None:
        monkeypatch.delenv("PWD", raising=False)
    else:
        monkeypatch.setenv("PWD", shell_folder.format(tmp=tmp_path))
    project = tmp_path.resolve() / "build" / "orders-service"
    assert expected.format(tmp=tmp_path.resolve()) in post_gen.summary(project, {}).splitlines()


def test_cruft_update_renders_are_recognised_and_cli_bakes_are_not(tmp_path: Path) -> None:
    cruft_parent = Path(tempfile.mkdtemp())
    try:
        cruft_render = cruft_parent / "orders-service"
        assert post_gen.is_cruft_update_render(cruft_render, {"project_slug": "orders-service"})
        assert not post_gen.is_cruft_update_render(cruft_render, {"_output_dir": str(cruft_parent)})
    finally:
        cruft_parent.rmdir()
    assert not post_gen.is_cruft_update_render(tmp_path / "out" / "orders-service", {})


def test_cruft_update_render_is_only_pruned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    project = _fake_project(tmp_path, {})
    (project / ".env.example").write_text("SECRET_KEY=change-me\n", encoding="utf-8")
    monkeypatch.setattr(post_gen, "is_cruft_update_render", lambda *_: True)
    post_gen.finish(project, {"package_name": "pkg", "init_git": True, "install_pre_commit": True})
    assert sorted(path.name for path in project.iterdir()) == [".env.example"]
