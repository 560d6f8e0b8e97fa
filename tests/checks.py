"""Checks that every baked project must pass, whatever the answers."""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import json
import re
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML
from validate_pyproject import api as validate_pyproject

from .hook_modules import pre_gen
from .variants import TEMPLATE_DIR

PROJECT_TEMPLATE_DIR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
MANIFEST_NAME = "template-manifest.json"
LEFTOVER_JINJA = re.compile(r"\{\{-?\s*cookiecutter|\{%-?\s*(?:if|elif|else|endif|for|endfor|raw|endraw|set)\b|\{#")
# CI systems and compose read YAML 1.2 (where `on:` is a string, not a boolean), as does check-jsonschema.
YAML_1_2 = YAML(typ="safe")
# Printed by a project's own interpreter: the top-level import names of every installed
# distribution (from top_level.txt, else from the RECORD of installed files).
IMPORT_NAMES_SCRIPT = (
    "import importlib.metadata, json; print(json.dumps(list(importlib.metadata.packages_distributions())))"
)
# The normalised (PEP 503) names of every installed distribution.
DISTRIBUTION_NAMES_SCRIPT = (
    "import importlib.metadata, json, re;"
    " print(json.dumps([re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() for d in importlib.metadata.distributions()]))"
)
# mypyc's runtime modules are named by a hash that changes with every mypy build; no one types one.
MYPYC_RUNTIME = re.compile(r"[0-9a-f]{20}__mypyc")
HEADING = re.compile(r"#{1,6} ")
GLUED_HEADING = re.compile(r"[^\s#`]#{2,6} \w")
# GitHub replaces ${{ ... }} before the shell runs; shellcheck sees a plain word in its place.
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
GITLAB_SCRIPT_KEYS = ("before_script", "script", "after_script")
SCHEMAS = {
    "compose.yaml": "compose-spec.json",
    ".gitlab-ci.yml": "gitlab-ci.json",
    ".github/workflows/*.yml": "github-workflows.json",
    ".github/dependabot.yml": "dependabot.json",
}


def manifest_features() -> dict[str, dict[str, Any]]:
    """The template's feature manifest, read from the template itself."""
    manifest = json.loads((PROJECT_TEMPLATE_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
    features: dict[str, dict[str, Any]] = manifest["features"]
    return features


@cache
def copied_without_render() -> tuple[str, ...]:
    """Globs (relative to the project root) of files cookiecutter copies verbatim."""
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
    return tuple(context.get("_copy_without_render", []))


def text_files(project: Path) -> dict[str, str]:
    """Relative path -> text of every text file of the project outside .git and virtual environments.

    Read once per check run and handed to the checks that scan texts: a project has hundreds of files."""
    texts = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if not path.is_file() or relative.parts[0] in {".git", ".venv", ".tools"}:
            continue
        try:
            texts[str(relative)] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def _is_verbatim(relative: str) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in copied_without_render())


def unrendered_jinja(texts: Mapping[str, str]) -> list[str]:
    """Files still holding template syntax (verbatim-copied files may hold their own Jinja)."""
    return [relative for relative, text in texts.items() if not _is_verbatim(relative) and LEFTOVER_JINJA.search(text)]


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    """A validator for one of check-jsonschema's vendored schemas, built (and checked) once."""
    import check_jsonschema.builtin_schemas as builtin

    schema = json.loads((Path(builtin.__file__).parent / "vendor" / name).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_schema(relative: str, document: Any) -> None:
    for pattern, schema in SCHEMAS.items():
        if fnmatch.fnmatch(relative, pattern):
            _validator(schema).validate(document)


def parse_problems(texts: Mapping[str, str]) -> list[str]:
    """Python that does not compile, TOML/YAML/JSON that does not parse or fails its schema."""
    problems = (_parse_problem(relative, text) for relative, text in texts.items())
    return [problem for problem in problems if problem]


# Most files render identically in many combinations: each distinct text is parsed once per worker.
@lru_cache(maxsize=8192)
def _parse_problem(relative: str, text: str) -> str | None:
    suffix = Path(relative).suffix
    try:
        if suffix == ".py":
            ast.parse(text, filename=relative)
        elif relative == "pyproject.toml":
            _pyproject_validator()(tomllib.loads(text))
        elif suffix == ".toml":
            tomllib.loads(text)
        elif suffix in {".yml", ".yaml"}:
            documents = yaml_documents(text)
            if len(documents) == 1:
                _validate_schema(relative, documents[0])
        elif suffix == ".json":
            json.loads(text)
        elif suffix == ".md":
            return _heading_problem(relative, text)
    except Exception as error:  # noqa: BLE001 - every parser's error is a finding
        return f"{relative}: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return None


@cache
def _pyproject_validator() -> validate_pyproject.Validator:
    """PEP 517/518/621 validation of pyproject.toml: the tables ruff_problems leaves out of ruff."""
    return validate_pyproject.Validator()


def _heading_problem(relative: str, text: str) -> str | None:
    """A Markdown heading that a `{%- %}` tag pulled onto the line of the text before it (where it
    is no heading at all), or up against that text without the blank line the files keep."""
    in_code = False
    previous = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        elif not in_code and GLUED_HEADING.search(line):
            return f"{relative} line {number}: a heading glued to the text before it: {line[-80:]}"
        elif not in_code and HEADING.match(line) and previous.strip():
            return f"{relative} line {number}: no blank line before the heading {line[:60]!r}"
        previous = line
    return None


@lru_cache(maxsize=1024)
def yaml_documents(text: str) -> tuple[Any, ...]:
    """The documents of a YAML 1.2 stream, parsed once per distinct text (treat them as read-only)."""
    return tuple(YAML_1_2.load_all(text))


RUFF_INPUT_SUFFIXES = (".py", ".pyi", ".ipynb")
# Files whose rules say which files ruff reads, or how, wherever they are in the project.
RUFF_INPUT_NAMES = frozenset({".gitignore", ".ignore", "ruff.toml", ".ruff.toml"})
# ruff's findings by a digest of what it read (see ruff_problems).
_ruff_findings: dict[str, list[str]] = {}


def ruff_problems(project: Path, ruff: str, texts: Mapping[str, str]) -> list[str]:
    """Lint and format findings of the project's own ruff configuration.

    Most combinations differ from one another only in files ruff does not read (CI, deploy and
    docs files, most of pyproject.toml), so ruff runs once per distinct set of what it reads: the
    Python files, the ignore files it honours, any ruff.toml, the [tool.ruff] table and
    `requires-python`. ruff also validates the rest of pyproject.toml (RUF200); parse_problems does
    that for every project.
    """
    digest = hashlib.sha256(ruff.encode())
    for relative, text in sorted(texts.items()):
        if relative.endswith(RUFF_INPUT_SUFFIXES) or Path(relative).name in RUFF_INPUT_NAMES:
            digest.update(f"\0{relative}\0{text}".encode())
    pyproject = tomllib.loads(texts["pyproject.toml"])
    settings = [pyproject.get("tool", {}).get("ruff"), pyproject.get("project", {}).get("requires-python")]
    digest.update(json.dumps(settings, sort_keys=True).encode())
    key = digest.hexdigest()
    if key not in _ruff_findings:
        _ruff_findings[key] = _run_ruff(project, ruff)
    return list(_ruff_findings[key])


def _run_ruff(project: Path, ruff: str) -> list[str]:
    problems = []
    for command in ([ruff, "check", "--no-cache", "--quiet", "."], [ruff, "format", "--no-cache", "--check", "."]):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            problems.append(f"{' '.join(command[:2])}:\n{result.stdout}{result.stderr}")
    return problems


def ci_shell_problems(project: Path, shellcheck: str) -> list[str]:
    """shellcheck findings in the shell the project's CI runs, which no test here can execute: the
    `run` steps of GitHub workflows (bash, the runner's default) and GitLab jobs' scripts (POSIX sh,
    the shell of the docker image its image jobs run in)."""
    problems = []
    for workflow in sorted((project / ".github" / "workflows").glob("*.yml")):
        for job_name, job in yaml_documents(workflow.read_text(encoding="utf-8"))[0]["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step and step.get("shell", "bash") == "bash":
                    script = GITHUB_EXPRESSION.sub("EXPRESSION", step["run"])
                    where = f"{workflow.name} {job_name} {step.get('name', 'step')!r}"
                    problems += [f"{where}: {finding}" for finding in _shellcheck(shellcheck, "bash", script)]
    gitlab = project / ".gitlab-ci.yml"
    if gitlab.exists():
        for job_name, job in yaml_documents(gitlab.read_text(encoding="utf-8"))[0].items():
            for key in GITLAB_SCRIPT_KEYS if isinstance(job, dict) else ():
                script = "\n".join(_flatten(job.get(key, [])))
                problems += [
                    f".gitlab-ci.yml {job_name} {key}: {finding}" for finding in _shellcheck(shellcheck, "sh", script)
                ]
    return problems


def workflow_security_problems(project: Path, zizmor: str) -> list[str]:
    """zizmor's findings in the project's GitHub workflows."""
    workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
    return zizmor_problems(zizmor, {workflow.name: workflow.read_text(encoding="utf-8") for workflow in workflows})


def zizmor_problems(zizmor: str, workflows: Mapping[str, str]) -> list[str]:
    """zizmor's findings (its offline audits, default persona: template injection, unpinned actions,
    credentials left in the checkout, cache poisoning and the like) in workflows given as file name
    -> text, audited in one run: starting zizmor costs more than auditing a workflow."""
    if not workflows:
        return []
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / name for name in workflows]
        for path, text in zip(paths, workflows.values(), strict=True):
            path.write_text(text, encoding="utf-8")
        command = [zizmor, "--offline", "--no-progress", "--format", "json", *map(str, paths)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if not result.stdout.startswith("["):  # zizmor itself failed: show why
        return [f"zizmor exited with {result.returncode}: {result.stderr.strip()}"]
    problems = []
    for finding in json.loads(result.stdout):
        primary = next(place for place in finding["locations"] if place["symbolic"]["kind"] == "Primary")
        name = Path(primary["symbolic"]["key"]["Local"]["verbatim_path"]).name
        line = primary["concrete"]["location"]["start_point"]["row"] + 1
        problems.append(f"{name}:{line} {finding['ident']}: {primary['symbolic']['annotation']}")
    return problems


def _flatten(lines: str | list[Any]) -> Iterator[str]:
    """GitLab script lines, which may be nested lists (from !reference) or a single string."""
    for line in [lines] if isinstance(lines, str) else lines:
        yield from [line] if isinstance(line, str) else _flatten(line)


@lru_cache(maxsize=1024)
def _shellcheck(shellcheck: str, dialect: str, script: str) -> tuple[str, ...]:
    if not script.strip():
        return ()
    command = [shellcheck, "--shell", dialect, "--format", "gcc", "-"]
    result = subprocess.run(command, input=script, capture_output=True, text=True, check=False)
    return tuple(line.split(":", 3)[3].strip() for line in result.stdout.splitlines())


def dockerfile_problems(project: Path, hadolint: str) -> list[str]:
    """hadolint findings in the Dockerfile (every level: the file is small enough to keep clean)."""
    dockerfile = project / "Dockerfile"
    return list(_hadolint(hadolint, dockerfile.read_text(encoding="utf-8"))) if dockerfile.exists() else []


@lru_cache(maxsize=64)
def _hadolint(hadolint: str, text: str) -> tuple[str, ...]:
    result = subprocess.run([hadolint, "--no-color", "-"], input=text, capture_output=True, text=True, check=False)
    return tuple(f"Dockerfile{line.removeprefix('-')}" for line in result.stdout.splitlines())


def is_enabled(feature: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    return all(answers.get(key) == value for key, value in feature["when"].items())


def manifest_problems(project: Path, texts: Mapping[str, str], answers: Mapping[str, Any]) -> list[str]:
    """An enabled feature has all its paths; a disabled one leaves no path and no mention."""
    package = answers["package_name"]
    problems = []
    # .env is .env.example (scanned here) with random secrets, which can spell a short word such
    # as "hvac" or "otel"; test_bake_matrix checks that it differs from the example only there.
    mentioned = {relative: _mentions(text) for relative, text in texts.items() if relative != ".env"}
    all_paths = [str(path.relative_to(project)).lower() for path in project.rglob("*") if ".git" not in path.parts]
    for name, feature in manifest_features().items():
        paths = [path.replace("{package}", package) for path in feature["paths"]]
        if is_enabled(feature, answers):
            problems += [f"{name} is enabled but {path} is missing" for path in paths if not (project / path).exists()]
            continue
        problems += [f"{name} is disabled but {path} exists" for path in paths if (project / path).exists()]
        for word in map(str.lower, feature["mentions"]):
            problems += [
                f"{name} is disabled but {path} mentions {word!r}" for path, words in mentioned.items() if word in words
            ]
            problems += [f"{name} is disabled but path {path} mentions {word!r}" for path in all_paths if word in path]
    if (project / MANIFEST_NAME).exists():
        problems.append(f"{MANIFEST_NAME} was left in the project")
    return problems


@cache
def _mention_words() -> frozenset[str]:
    return frozenset(word.lower() for feature in manifest_features().values() for word in feature["mentions"])


# Most files render identically in many combinations: each distinct text is searched once per worker.
@lru_cache(maxsize=8192)
def _mentions(text: str) -> frozenset[str]:
    """The manifest's mention words that this text holds, in any case."""
    lowered = text.lower()
    return frozenset(word for word in _mention_words() if word in lowered)


def env_file_problems(project: Path) -> list[str]:
    """.env must be .env.example line for line, with a fresh secret on each ``KEY=change-me`` line."""
    example = (project / ".env.example").read_text(encoding="utf-8").splitlines()
    env = (project / ".env").read_text(encoding="utf-8").splitlines()
    if len(env) != len(example):
        return [f".env has {len(env)} lines, .env.example {len(example)}"]
    problems = []
    for number, (line, example_line) in enumerate(zip(env, example, strict=True), start=1):
        key = example_line.removesuffix("change-me")
        if key != example_line and key.endswith("="):
            fresh = line.startswith(key) and len(line) - len(key) >= 48 and "change-me" not in line
            problems += [] if fresh else [f".env line {number}: {key} has no fresh secret"]
        elif line != example_line:
            problems.append(f".env line {number} differs from .env.example")
    return problems


def readme_tree_problems(project: Path) -> list[str]:
    """Every module of the package is named in the README's architecture tree, unless the tree sums
    up its folder in one described line (``mail/  e-mail: ...``), so the tree keeps up with the code."""
    readme = (project / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## Architecture", 1)[1].split("```", 2)[1]
    summed_up = {match.group(1) for match in re.finditer(r"^\s*([\w.]+)/ +\S", tree, re.MULTILINE)}
    package = next(path for path in (project / "src").iterdir() if path.is_dir())
    return [
        f"README.md's architecture tree does not name {module.relative_to(project).as_posix()}"
        for module in sorted(package.rglob("*.py"))
        if module.name != "__init__.py" and module.name not in tree and module.parent.name not in summed_up
    ]


def undocumented_settings(project: Path) -> list[str]:
    """The fields of the project's `Settings` that its README never names as an environment variable
    (`` `NAME` ``), so a setting added without a word in the README fails the fast tier."""
    package = next(path for path in (project / "src").iterdir() if path.is_dir())
    readme = (project / "README.md").read_text(encoding="utf-8")
    return [
        f"README.md does not document the setting {name.upper()}"
        for name in _settings_fields((package / "settings.py").read_text(encoding="utf-8"))
        if f"`{name.upper()}`" not in readme
    ]


@lru_cache(maxsize=256)
def _settings_fields(source: str) -> tuple[str, ...]:
    """The field names of the `Settings` class in this settings module's source."""
    module = ast.parse(source)
    settings = next(node for node in module.body if isinstance(node, ast.ClassDef) and node.name == "Settings")
    return tuple(
        statement.target.id
        for statement in settings.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
        and statement.target.id != "model_config"
    )  # fmt: skip


def installed_import_names(project: Path) -> set[str]:
    """Top-level import names of every distribution in the project's .venv, except the project itself."""
    own_packages = {path.name for path in (project / "src").iterdir()}
    return _printed_by_venv(project, IMPORT_NAMES_SCRIPT) - own_packages


def installed_distribution_names(project: Path) -> set[str]:
    """Normalised names of every distribution in the project's .venv, except the project itself."""
    return _printed_by_venv(project, DISTRIBUTION_NAMES_SCRIPT) - {project.name}


def _printed_by_venv(project: Path, script: str) -> set[str]:
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


def unrefused_distribution_names(distribution_names: set[str]) -> list[str]:
    """The distribution names the pre-generation hook would accept as ``project_slug``: the project
    would depend on itself, so each belongs in ``DEPENDENCY_DISTRIBUTIONS``."""
    return sorted(
        name
        for name in distribution_names
        if pre_gen.SLUG_PATTERN.fullmatch(name) and not pre_gen.slug_problems(name, kubernetes=False)
    )


def unrefused_import_names(import_names: set[str]) -> list[str]:
    """The import names the pre-generation hook would accept as ``package_name``: each one would shadow
    an installed library (or be shadowed by it), so each belongs in ``DEPENDENCY_IMPORT_NAMES``."""
    return sorted(
        name
        for name in import_names
        if pre_gen.PACKAGE_PATTERN.fullmatch(name)
        and not MYPYC_RUNTIME.fullmatch(name)
        and not pre_gen.package_problems(name)
    )
