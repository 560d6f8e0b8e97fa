"""What makes a password acceptable at registration: long enough, varied, and not a common one.

`common-passwords.txt.gz` is Django's list of the 19,640 passwords found most often in breaches
(see `common-passwords.LICENSE`). A list lookup costs the same for every input; estimators such
as zxcvbn can spend seconds of CPU on a crafted password, which a request must not.
"""

from __future__ import annotations

import gzip
import string
import unicodedata
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 128  # bounds hashing work per request
MIN_DISTINCT_CHARACTERS = 5
COMMON_PASSWORDS = frozenset(
    gzip.decompress(Path(__file__).with_name("common-passwords.txt.gz").read_bytes()).decode().splitlines()
)
# A common password with digits or symbols appended ("iloveyou1234") is as easy to guess.
_APPENDED = string.digits + string.punctuation + string.whitespace


def normalised(password: str) -> str:
    """The form that is hashed and checked: NFKC, as NIST SP 800-63B (5.1.1.2) advises, so the same
    password typed where accents are composed (NFC) or decomposed (NFD, macOS and iOS keyboards),
    or in full-width characters, is the same password."""
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str) -> str | None:
    """Why the password is refused, or None when it is acceptable.

    The limits count the characters as sent, as the schema's minLength and maxLength and the fields
    that ask for the password again do (normalising can turn one character into many); the rules
    after them see the normalised form that is hashed, which must be long enough too.
    """
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    typed, password = password, normalised(password)
    if min(len(typed), len(password)) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or lowered.rstrip(_APPENDED) in COMMON_PASSWORDS:
        return "is too common"
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return f"must contain at least {MIN_DISTINCT_CHARACTERS} different characters"
    return None
