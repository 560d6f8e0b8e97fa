from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.core.password_policy import password_problem


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12 characters"),
        ("x" * 129, "at most 128"),
        ("Password1234", "too common"),
        ("correct horse battery staple", "too common"),
        ("abababababababab", "different characters"),
    ],
)
def test_weak_passwords_are_refused(password: str, problem: str) -> None:
    assert problem in (password_problem(password) or "")


def test_a_long_unusual_password_is_accepted() -> None:
    assert password_problem("violet tugboat 1987 sings") is None
