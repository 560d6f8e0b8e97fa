"""The variant sets the tiers (and external CI matrices) are built from."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

from .variants import TEMPLATE_DIR, all_combinations, multi_option_conditions, option_space, pairwise_combinations


def test_option_space_is_every_choice_and_toggle_of_cookiecutter_json() -> None:
    space = option_space()
    assert space["database"] == ["sqlite", "postgresql"]
    assert space["ci"] == ["github", "gitlab", "none"]
    assert space["use_docker"] == [True, False]
    assert space["use_sentry"] == [False, True]
    assert "project_name" not in space


def test_pairwise_set_covers_every_pair_of_option_values() -> None:
    space = option_space()
    combinations = pairwise_combinations()
    for first, second in itertools.combinations(space, 2):
        wanted = set(itertools.product(space[first], space[second]))
        seen = {(answers[first], answers[second]) for answers in combinations}
        assert wanted == seen, f"missing pairs of {first} x {second}: {wanted - seen}"
    assert len(combinations) < 30, "the pairwise set should stay small"


def test_the_slow_modules_are_on_in_few_pairwise_rows() -> None:
    # Projects with a Celery worker or browser tests take the longest to test.
    combinations = pairwise_combinations()
    heavy_rows = [answers for answers in combinations if answers["use_celery"] or answers["use_playwright"]]
    assert len(heavy_rows) <= len(combinations) // 2


def test_the_pairwise_set_installs_every_file_that_needs_three_answers() -> None:
    combinations = pairwise_combinations()
    for condition in multi_option_conditions():
        assert any(condition.items() <= answers.items() for answers in combinations), condition


def test_all_combinations_cross_every_file_shaping_option() -> None:
    combinations = list(all_combinations())
    space = option_space()
    crossed = ["database", "ci"] + [key for key in space if key.startswith("use_")]
    assert len(combinations) == len(list(itertools.product(*(space[key] for key in crossed))))
    assert len({json.dumps(answers, sort_keys=True) for answers in combinations}) == len(combinations)
    for sampled in ("python_version", "license"):
        for key in crossed:
            pairs = {(answers[key], answers[sampled]) for answers in combinations}
            assert pairs == set(itertools.product(space[key], space[sampled])), (key, sampled)


def test_command_prints_the_pairwise_set_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.variants", "--pairwise", "--json"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == pairwise_combinations()
