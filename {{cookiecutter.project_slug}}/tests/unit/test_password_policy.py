from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core.password_policy import MAX_LENGTH, password_problem


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12 characters"),
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"),
        ("password1234", "very common password"),
        ("qwertyuiop123", "very common password"),
        ("1qaz2wsx3edc", "very common password"),
        ("Password1234", "similar to a commonly used password"),
        ("iloveyou1234", "similar to a commonly used password"),
        ("abcdefghijklmnop", "Sequences"),
        ("trustno1trustno1", "Repeats"),
    ],
)
def test_guessable_passwords_are_refused_with_the_reason(password: str, problem: str) -> None:
    refusal = password_problem(password) or ""
    assert problem in refusal


@pytest.mark.parametrize(
    "password",
    ["violet tugboat 1987 sings", "plum-arrow-tundra-44", "kN8#vQ2!mZ7@pLx4"],
)
def test_long_unusual_passwords_are_accepted(password: str) -> None:
    assert password_problem(password) is None


def test_a_password_longer_than_the_estimate_reads_is_judged_by_its_start() -> None:
    assert password_problem("a" * MAX_LENGTH) is not None
    assert password_problem("violet tugboat 1987 sings " * 4) is None
