"""What makes a password acceptable at registration: long enough and hard to guess.

zxcvbn estimates how many guesses a password takes: it knows common passwords, words and names,
keyboard patterns, sequences, repeats, dates and l33t substitutions, so a long but predictable
password is refused too, with a hint that says why.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128  # bounds hashing work per request
# zxcvbn's work grows quickly with length, so it reads the first characters only (its own default
# limit); whatever follows can only make the password harder to guess.
ESTIMATED_LENGTH = 72
# zxcvbn scores 0 to 4; 3 means at least 10^8 guesses, its mark for "safely unguessable" behind a
# slow hash such as argon2.
MIN_SCORE = 3


def password_problem(password: str) -> str | None:
    """Why the password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    estimate = zxcvbn(password[:ESTIMATED_LENGTH], max_length=ESTIMATED_LENGTH)
    if estimate["score"] < MIN_SCORE:
        hint = estimate["feedback"]["warning"] or "Add another word or two."
        return f"is too easy to guess. {hint}"
    return None
