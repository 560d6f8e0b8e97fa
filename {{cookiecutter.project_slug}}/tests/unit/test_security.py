"""Tokens: only valid, unexpired, correctly signed tokens of the expected type pass. Hashing: argon2id."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from {{ cookiecutter.package_name }}.core.exceptions import AuthenticationError
from {{ cookiecutter.package_name }}.core.security import PasswordHasher, TokenService
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import SECRET_KEY, IsolatedSettings

FAST_HASHING: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 8, "argon2_parallelism": 1}


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(IsolatedSettings(secret_key=SECRET_KEY))


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "7", "type": "access", "iss": Settings.model_fields["jwt_issuer"].default}
    return {**claims, "iat": now, "exp": now + 300, "jti": "abc", "sid": "session", **overrides}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_access_token_round_trip(tokens: TokenService) -> None:
    claims = tokens.verify(tokens.issue_access_token(7, "session-1"), "access")
    assert claims.user_id == 7
    assert claims.session_id == "session-1"
    assert len(claims.jti) == 32


def test_both_tokens_of_a_login_carry_its_session(tokens: TokenService) -> None:
    session_id = tokens.new_session_id()
    refresh = tokens.issue_refresh_token(7, session_id)
    assert refresh.session_id == session_id
    assert tokens.verify(refresh.token, "refresh").session_id == session_id
    assert tokens.verify(tokens.issue_access_token(7, session_id), "access").session_id == session_id


def test_a_token_of_the_other_type_is_refused(tokens: TokenService) -> None:
    with pytest.raises(AuthenticationError, match="Wrong token type"):
        tokens.verify(tokens.issue_access_token(7, "session"), "refresh")


def test_a_tampered_payload_is_refused(tokens: TokenService) -> None:
    header, _, signature = tokens.issue_access_token(7, "session").split(".")
    forged = f"{header}.{_b64(_claims(sub='1'))}.{signature}"
    with pytest.raises(AuthenticationError):
        tokens.verify(forged, "access")


def test_alg_none_is_refused(tokens: TokenService) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."
    with pytest.raises(AuthenticationError):
        tokens.verify(unsigned, "access")


@pytest.mark.parametrize(
    ("claims", "key", "algorithm"),
    [
        (_claims(), "another-key-of-sufficient-length-0123456789", "HS256"),  # wrong key
        (_claims(), SECRET_KEY, "HS512"),  # an algorithm outside the allow-list
        (_claims(exp=int(datetime.now(UTC).timestamp()) - 1), SECRET_KEY, "HS256"),  # expired
        (_claims(iss="someone-else"), SECRET_KEY, "HS256"),
        ({k: v for k, v in _claims().items() if k != "jti"}, SECRET_KEY, "HS256"),  # a required claim missing
        ({k: v for k, v in _claims().items() if k != "sid"}, SECRET_KEY, "HS256"),  # issued before sessions
        (_claims(sub="not-a-number"), SECRET_KEY, "HS256"),
    ],
    ids=["wrong-key", "wrong-algorithm", "expired", "wrong-issuer", "no-jti", "no-session", "bad-subject"],
)
def test_invalid_tokens_are_refused(tokens: TokenService, claims: dict[str, Any], key: str, algorithm: str) -> None:
    with pytest.raises(AuthenticationError):
        tokens.verify(jwt.encode(claims, key, algorithm=algorithm), "access")


async def test_passwords_hash_with_argon2id_and_verify() -> None:
    hasher = PasswordHasher(IsolatedSettings(**FAST_HASHING))
    password_hash = await hasher.hash("violet tugboat 1987")
    assert password_hash.startswith("$argon2id$")
    assert await hasher.verify("violet tugboat 1987", password_hash) == (True, None)
    assert (await hasher.verify("wrong", password_hash))[0] is False


async def test_unknown_users_still_cost_a_verification() -> None:
    hasher = PasswordHasher(IsolatedSettings(**FAST_HASHING))
    assert await hasher.verify("anything", None) == (False, None)
    assert await hasher.verify("anything", None) == (False, None)  # reuses the throw-away hash


async def test_hashes_made_with_older_parameters_are_upgraded() -> None:
    old = await PasswordHasher(IsolatedSettings(**FAST_HASHING)).hash("violet tugboat 1987")
    stronger = PasswordHasher(IsolatedSettings(**{**FAST_HASHING, "argon2_time_cost": 2}))
    valid, new_hash = await stronger.verify("violet tugboat 1987", old)
    assert valid
    assert new_hash is not None
    assert "t=2" in new_hash


# NIST SP 800-63B 5.1.1.2: passwords are compared NFKC-normalised.
COMPOSED = unicodedata.normalize("NFC", "crème brûlée à la carte")
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)


async def test_a_password_matches_whether_its_accents_are_composed_or_not() -> None:
    hasher = PasswordHasher(IsolatedSettings(**FAST_HASHING))
    assert await hasher.verify(DECOMPOSED, await hasher.hash(COMPOSED)) == (True, None)
    assert await hasher.verify(COMPOSED, await hasher.hash(DECOMPOSED)) == (True, None)


async def test_a_hash_of_a_password_as_typed_still_matches_and_is_replaced() -> None:
    """Hashes stored before passwords were normalised hold the raw form: the caller stores the new hash."""
    hasher = PasswordHasher(IsolatedSettings(**FAST_HASHING))
    as_typed = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)).hash(DECOMPOSED)
    valid, new_hash = await hasher.verify(DECOMPOSED, as_typed)
    assert valid
    assert new_hash is not None
    assert await hasher.verify(COMPOSED, new_hash) == (True, None)
    assert await hasher.verify(COMPOSED, as_typed) == (False, None)  # the raw form matched only as typed
    assert await hasher.verify("wrong password", as_typed) == (False, None)


def test_default_hashing_parameters_are_not_weakened() -> None:
    settings = IsolatedSettings()
    assert (settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism) == (3, 65536, 4)


EARLIER_KEY = "an-earlier-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret


def test_tokens_of_an_earlier_key_verify_while_it_is_a_fallback_and_new_ones_use_the_current_key() -> None:
    earlier = TokenService(IsolatedSettings(secret_key=EARLIER_KEY))
    rotating = TokenService(IsolatedSettings(secret_key=SECRET_KEY, secret_key_fallbacks=[EARLIER_KEY]))
    rotated = TokenService(IsolatedSettings(secret_key=SECRET_KEY))
    old_token = earlier.issue_access_token(7, "session")
    assert rotating.verify(old_token, "access").user_id == 7
    assert rotated.verify(rotating.issue_access_token(8, "session"), "access").user_id == 8
    with pytest.raises(AuthenticationError):
        rotated.verify(old_token, "access")


def test_an_expired_token_of_a_fallback_key_is_refused_as_expired() -> None:
    """Only a signature that does not match moves on to the next key; any other fault is final."""
    rotating = TokenService(IsolatedSettings(secret_key=SECRET_KEY, secret_key_fallbacks=[EARLIER_KEY]))
    expired = jwt.encode(_claims(exp=int(datetime.now(UTC).timestamp()) - 1), EARLIER_KEY, algorithm="HS256")
    with pytest.raises(AuthenticationError) as refused:
        rotating.verify(expired, "access")
    assert isinstance(refused.value.__cause__, jwt.ExpiredSignatureError)


def test_a_key_that_ends_in_a_newline_still_matches_as_a_fallback() -> None:
    """As when SECRET_KEY was read from a file, then moved to SECRET_KEY_FALLBACKS the same way."""
    from_a_file = f"{EARLIER_KEY}\n"
    old_token = TokenService(IsolatedSettings(secret_key=from_a_file)).issue_access_token(7, "session")
    rotating = TokenService(IsolatedSettings(secret_key=SECRET_KEY, secret_key_fallbacks=from_a_file))
    assert rotating.verify(old_token, "access").user_id == 7
