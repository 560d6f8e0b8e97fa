from __future__ import annotations

import unicodedata

import pytest

from {{ cookiecutter.package_name }}.core.password_policy import (
    COMMON_PASSWORDS,
    MAX_LENGTH,
    MIN_LENGTH,
    password_problem,
)

from ..support import full_width


def test_the_shipped_list_of_breached_passwords_is_loaded_whole() -> None:
    assert len(COMMON_PASSWORDS) == 19_640
    assert {"123456", "password", "qwerty", "iloveyou"} <= COMMON_PASSWORDS


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12 characters"),
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"),
        ("1qaz2wsx3edc", "too common"),
        ("Password1234", "too common"),
        ("qwertyqwerty", "too common"),
        ("Administrator", "too common"),
        ("iloveyou1234", "too common"),
        ("Sunshine2024!", "too common"),
        ("abababababababab", "different characters"),
        (full_width("password1234"), "too common"),  # NFKC, as the password is hashed, makes it password1234
    ],
)
def test_weak_passwords_are_refused(password: str, problem: str) -> None:
    assert problem in (password_problem(password) or "")


@pytest.mark.parametrize("password", ["violet tugboat 1987 sings", "plum-arrow-tundra-44", "kN8#vQ2!mZ7@pLx4"])
def test_long_unusual_passwords_are_accepted(password: str) -> None:
    assert password_problem(password) is None


def test_the_upper_limit_counts_the_characters_as_sent() -> None:
    """As the schema's maxLength and the fields that ask for the password again do: a password
    accepted at registration is never too long for them."""
    phrase = "déjà vu à côté, " * 7
    composed, decomposed = unicodedata.normalize("NFC", phrase), unicodedata.normalize("NFD", phrase)
    assert len(composed) <= MAX_LENGTH < len(decomposed)
    assert password_problem(composed) is None
    assert password_problem(decomposed) == f"must be at most {MAX_LENGTH} characters long"


def test_the_lower_limit_counts_the_characters_as_sent_and_as_normalised() -> None:
    # NFKC writes the one character U+FDFA as 18; NFC writes "e" and a combining accent as one.
    assert password_problem("\ufdfa" * 4) == f"must be at least {MIN_LENGTH} characters long"
    assert password_problem(unicodedata.normalize("NFD", "crème brûlé")) is not None
    assert len(unicodedata.normalize("NFD", "crème brûlé")) >= MIN_LENGTH > len("crème brûlé")
