"""The option space of the template and the combinations the test tiers bake.

``python -m tests.variants --pairwise --json`` prints the pairwise set so any CI system can fan
it out into a job matrix; the slow tier uses the same function.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from allpairspy import AllPairs

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
Answers = dict[str, Any]


def option_space() -> dict[str, list[Any]]:
    """Every choice and boolean variable of cookiecutter.json with all its values."""
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
    space: dict[str, list[Any]] = {}
    for key, value in context.items():
        if key.startswith("_"):
            continue
        if isinstance(value, list):
            space[key] = value
        elif isinstance(value, bool):
            space[key] = [value, not value]
    return space


def optional_modules() -> list[str]:
    """The optional modules: every ``use_*`` boolean of cookiecutter.json, in its order."""
    return [key for key, values in option_space().items() if key.startswith("use_") and isinstance(values[0], bool)]


# Bake-time options whose effect is tested separately (git and pre-commit subprocesses are the
# slowest part of a bake, and they do not interact with the rendered files).
HOOK_OPTIONS = ("init_git", "install_pre_commit")
# Options that only change a value inside files; every value is sampled rather than multiplied.
SAMPLED_OPTIONS = ("python_version", "license")


def all_combinations() -> Iterator[Answers]:
    """Every combination of the file-shaping options; sampled options rotate through their values."""
    space = option_space()
    crossed = [key for key in space if key not in HOOK_OPTIONS and key not in SAMPLED_OPTIONS]
    for values in itertools.product(*(space[key] for key in crossed)):
        answers: Answers = dict(zip(crossed, values, strict=True))
        # Rotating by the sum of the crossed values' positions meets every value of every crossed
        # option with every sampled value (a rotation by row number pairs it with the last few only).
        shift = sum(space[key].index(value) for key, value in answers.items())
        for key in SAMPLED_OPTIONS:
            answers[key] = space[key][shift % len(space[key])]
        for key in HOOK_OPTIONS:
            answers[key] = False
        yield answers


def pairwise_combinations() -> list[Answers]:
    """A small set of combinations in which every pair of values of any two options appears.

    Toggles are offered on-first: allpairspy completes its last rows with each option's last
    value, so those rows leave modules off, and the slow modules (Celery, browser tests) land in
    fewer of the projects the slow tier installs.
    """
    space = {
        key: sorted(values, reverse=True) if isinstance(values[0], bool) else values
        for key, values in option_space().items()
    }
    keys = list(space)
    rows = [dict(zip(keys, values, strict=True)) for values in AllPairs([space[key] for key in keys])]
    # Files that exist only for three or more answers together are installed and tested too.
    defaults = {key: values[0] for key, values in option_space().items()}
    for condition in multi_option_conditions():
        if not any(condition.items() <= row.items() for row in rows):
            rows.append({**defaults, **condition})
    return rows


def multi_option_conditions() -> list[Answers]:
    """The manifest's conditions on more than two answers (pairs are covered anyway)."""
    manifest_path = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "template-manifest.json"
    features = json.loads(manifest_path.read_text(encoding="utf-8"))["features"].values()
    return [feature["when"] for feature in features if len(feature["when"]) > 2]


def variant_id(answers: Answers) -> str:
    """A short, stable test id such as ``pg-gitlab-py3.12-docker-celery``."""
    parts = [
        "pg" if answers.get("database") == "postgresql" else "sqlite",
        str(answers.get("ci")),
        f"py{answers.get('python_version')}",
    ]
    parts += [key.removeprefix("use_") for key, value in answers.items() if key.startswith("use_") and value is True]
    return "-".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--pairwise", action="store_true", help="the pairwise-covering set (slow tier)")
    group.add_argument("--all", action="store_true", help="every combination (fast tier)")
    parser.add_argument("--json", action="store_true", help="one JSON array (default: one JSON object per line)")
    args = parser.parse_args(argv)
    combinations = pairwise_combinations() if args.pairwise else list(all_combinations())
    if args.json:
        print(json.dumps(combinations))
    else:
        for answers in combinations:
            print(json.dumps(answers))


if __name__ == "__main__":
    main()
