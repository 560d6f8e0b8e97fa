"""What makes a password acceptable at registration: long enough, not common, not trivial."""

from __future__ import annotations

MIN_LENGTH = 12
MAX_LENGTH = 128  # bounds hashing work per request
MIN_DISTINCT_CHARACTERS = 5
# Frequent entries of public breach lists that are at least MIN_LENGTH long (shorter ones fail anyway).
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678910",
        "123123123123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiopasdfghjkl",
        "qwertyuiop123",
        "qwerty123456",
        "qwertyqwerty",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "administrator",
        "adminadmin123",
        "abcdefghijkl",
        "abc123abc123",
        "zaq12wsxcde3",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "monkey123456",
        "dragon123456",
        "correcthorsebatterystaple",
        "changeme1234",
    }
)


def password_problem(password: str) -> str | None:
    """Why the password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    if password.lower().replace(" ", "") in COMMON_PASSWORDS:
        return "is too common"
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return f"must contain at least {MIN_DISTINCT_CHARACTERS} different characters"
    return None
