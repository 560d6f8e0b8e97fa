"""Finish a freshly rendered project: prune, secrets, git, pre-commit, summary.

Plain Python: the only Jinja is inside the ANSWERS_JSON string literal, so the tests import this
module and call its functions. Nothing here needs the network, and a missing git or pre-commit
only produces a one-line warning: generation always completes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess  # nosec B404 - runs git and pre-commit with fixed arguments
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

# tojson escapes quotes (including ') so the rendered text can never close this raw string.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

MANIFEST_NAME = "template-manifest.json"
SECRET_PLACEHOLDER = "change-me"  # noqa: S105 - the marker .env.example uses, not a secret
_PLACEHOLDER_LINE = re.compile(rf"^(?P<key>[A-Z][A-Z0-9_]*)={re.escape(SECRET_PLACEHOLDER)}$", re.MULTILINE)

Warn = Callable[[str], None]


def load_manifest(project_dir: Path) -> dict[str, dict[str, object]]:
    """Read the feature manifest shipped inside the rendered project."""
    manifest = json.loads((project_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    features: dict[str, dict[str, object]] = manifest["features"]
    return features


def is_enabled(when: Mapping[str, object], answers: Mapping[str, object]) -> bool:
    """A feature is enabled when every answer named in its ``when`` has the given value."""
    return all(answers.get(key) == value for key, value in when.items())


def feature_paths(feature: Mapping[str, object], package: str) -> list[str]:
    """The feature's paths with ``{package}`` replaced by the package name."""
    paths = feature.get("paths", [])
    assert isinstance(paths, list)  # nosec B101 - manifest shape, checked by the template tests
    return [str(path).replace("{package}", package) for path in paths]


def paths_to_prune(features: Mapping[str, Mapping[str, object]], answers: Mapping[str, object]) -> list[str]:
    """Paths owned by the features that these answers leave disabled."""
    package = str(answers["package_name"])
    disabled: list[str] = []
    for feature in features.values():
        when = feature["when"]
        assert isinstance(when, Mapping)  # nosec B101 - manifest shape, checked by the template tests
        if not is_enabled(when, answers):
            disabled.extend(feature_paths(feature, package))
    return disabled


def prune(project_dir: Path, answers: Mapping[str, object]) -> list[str]:
    """Delete the files of disabled features and the manifest itself; return what was removed."""
    removed = []
    for relative in paths_to_prune(load_manifest(project_dir), answers):
        path = project_dir / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(relative)
        _remove_empty_parents(path.parent, project_dir)
    (project_dir / MANIFEST_NAME).unlink()
    return removed


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    while directory != stop and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def write_env(project_dir: Path, token: Callable[[], str] = lambda: secrets.token_urlsafe(48)) -> bool:
    """Create .env from .env.example, giving every ``KEY=change-me`` line a fresh random secret.

    An existing .env is never overwritten (it may hold the user's real secrets). Returns whether
    a file was written.
    """
    example, target = project_dir / ".env.example", project_dir / ".env"
    if target.exists() or not example.exists():
        return False
    text = _PLACEHOLDER_LINE.sub(lambda match: f"{match['key']}={token()}", example.read_text(encoding="utf-8"))
    target.write_text(text, encoding="utf-8")
    target.chmod(0o600)
    return True


def _run(command: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603 - fixed argument lists, no shell
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def git_identity_env(project_dir: Path, name: str, email: str) -> dict[str, str]:
    """Environment for the first commit: the user's git identity, or the author's as a fallback.

    The fallback goes through environment variables only, so the user's git config is untouched.
    """
    env = dict(os.environ)
    # One git process for both keys; "key value" lines, a key alone when its value is empty.
    lines = _run(["git", "config", "--get-regexp", r"^user\.(name|email)$"], project_dir).stdout.splitlines()
    configured = {key for key, _, value in (line.partition(" ") for line in lines) if value.strip()}
    if "user.name" not in configured:
        env.setdefault("GIT_AUTHOR_NAME", name)
        env.setdefault("GIT_COMMITTER_NAME", name)
    if "user.email" not in configured:
        env.setdefault("GIT_AUTHOR_EMAIL", email)
        env.setdefault("GIT_COMMITTER_EMAIL", email)
    return env


def create_repository(project_dir: Path, warn: Warn) -> bool:
    """``git init -b main``. Returns whether it succeeded."""
    if shutil.which("git") is None:
        warn("git not found: run `git init -b main && git add -A && git commit -m 'Initial commit'` later")
        return False
    return _git_step("git init", ["git", "init", "--quiet", "--initial-branch=main"], project_dir, None, warn)


def commit_everything(project_dir: Path, answers: Mapping[str, object], warn: Warn) -> bool:
    """Add every file and make the initial commit. Returns whether it succeeded."""
    env = git_identity_env(project_dir, str(answers["author_name"]), str(answers["author_email"]))
    steps = {
        "git add": ["git", "add", "--all"],
        "git commit": ["git", "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "Initial commit"],
    }
    return all(_git_step(label, command, project_dir, env, warn) for label, command in steps.items())


def _git_step(label: str, command: list[str], project_dir: Path, env: Mapping[str, str] | None, warn: Warn) -> bool:
    result = _run(command, project_dir, env)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        warn(f"`{label}` failed ({output[-1]}): finish the git setup by hand")
    return result.returncode == 0


class PreCommitInstall:
    """``pre-commit install`` in the background: it only needs ``.git``, so it overlaps the first commit."""

    def __init__(self, project_dir: Path, warn: Warn) -> None:
        self.warn = warn
        self.process: subprocess.Popen[str] | None = None
        if not (project_dir / ".git").exists():
            warn(
                "no git repository, so the pre-commit hook was not installed: run `make install && .venv/bin/pre-commit install` after `git init`"
            )
        elif shutil.which("pre-commit") is None:
            warn("pre-commit not found: run `make install && .venv/bin/pre-commit install` later")
        else:
            self.process = subprocess.Popen(  # nosec B603 B607 - fixed argument list, no shell
                ["pre-commit", "install"], cwd=project_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )

    def wait(self) -> bool:
        """Whether the hook is installed (warns when it is not)."""
        if self.process is None:
            return False
        stdout, stderr = self.process.communicate()
        if self.process.returncode != 0:
            self.warn(f"`pre-commit install` failed ({stderr.strip() or stdout.strip()}): run it again later")
            return False
        return True


def folder_to_enter(project_dir: Path) -> str:
    """The project folder as the user can reach it from the shell that started the bake.

    cookiecutter runs this hook inside the project, but the shell's PWD survives in the
    environment: relative to it when the project lies below it (``build/orders-service`` after
    ``make bake``), otherwise the full path.
    """
    shell_folder = os.environ.get("PWD")
    if not shell_folder:
        return str(project_dir)
    start = Path(shell_folder).resolve()
    return str(project_dir.relative_to(start) if project_dir.is_relative_to(start) else project_dir)


def summary(project_dir: Path, answers: Mapping[str, object]) -> str:
    """A few lines telling the user what was generated and how to run and test it."""
    # Optional modules are the use_<module> answers (cookiecutter.json is their one list).
    modules = [key.removeprefix("use_").replace("_", " ") for key, value in answers.items()
               if key.startswith("use_") and value is True]  # fmt: skip
    ci = {"github": "GitHub Actions", "gitlab": "GitLab CI"}.get(str(answers.get("ci")), "no CI")
    return "\n".join(
        (
            f"Generated {project_dir.name}: FastAPI service, {answers.get('database')}, {ci}"
            f"{'; modules: ' + ', '.join(modules) if modules else ''}.",
            f"  cd {shlex.quote(folder_to_enter(project_dir))}",
            "  make run     # serve on http://127.0.0.1:8000 (docs at /docs)",
            "  make test    # run the test suite with the coverage gate",
        )
    )


def warn_stderr(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def is_cruft_update_render(project_dir: Path, answers: Mapping[str, object]) -> bool:
    """Whether cruft is rendering a template version only to diff it (``cruft update``/``diff``).

    cruft renders into a fresh ``tempfile.TemporaryDirectory`` and, unlike the cookiecutter CLI and
    pytest-cookies, sets no ``_output_dir``. Such a render must stay a pure function of the answers:
    a .git folder, a pre-commit hook or new random secrets in it would become part of the update.
    """
    if "_output_dir" in answers:
        return False
    parent = project_dir.resolve().parent
    is_fresh_tempdir = re.fullmatch(r"tmp[a-z0-9_]{8}", parent.name) is not None
    return is_fresh_tempdir and parent.parent == Path(tempfile.gettempdir()).resolve()


def finish(project_dir: Path, answers: Mapping[str, object], warn: Warn = warn_stderr) -> None:
    """Every post-generation step, in order."""
    prune(project_dir, answers)
    if is_cruft_update_render(project_dir, answers):
        return
    write_env(project_dir)
    repository = answers.get("init_git") is True and create_repository(project_dir, warn)
    hook = PreCommitInstall(project_dir, warn) if answers.get("install_pre_commit") is True else None
    if repository:
        commit_everything(project_dir, answers, warn)
    if hook is not None:
        hook.wait()
    if shutil.which("uv") is None:
        warn("uv not found: `make run` will install it into .tools/ on first use")
    print(summary(project_dir, answers))


if __name__ == "__main__":
    try:
        finish(Path.cwd(), json.loads(ANSWERS_JSON))
    finally:
        # cookiecutter runs a rendered copy of this hook from the temp folder and leaves it there.
        if Path(__file__).name != "post_gen_project.py":
            Path(__file__).unlink(missing_ok=True)
