"""Password hashing (argon2id), JSON Web Tokens (access and refresh) and single-use account tokens."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from ..settings import Settings
from .exceptions import AuthenticationError
from .password_policy import normalised

T = TypeVar("T")
TokenType = Literal["access", "refresh"]


class PasswordHasher:
    """argon2id hashing in worker threads: a hash takes tens of milliseconds and must not block the loop.

    A capacity limiter bounds how many hashes run at once, and so the memory they use.
    """

    def __init__(self, settings: Settings) -> None:
        hasher = Argon2Hasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._password_hash = PasswordHash((hasher,))
        self._threads = settings.password_hashing_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._unknown_user_hash: str | None = None

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:  # created lazily: it needs a running event loop
            self._limiter = anyio.CapacityLimiter(self._threads)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)

    async def hash(self, password: str) -> str:
        return await self._in_thread(self._password_hash.hash, normalised(password))

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash when the stored one should be replaced.

        With no stored hash (unknown user) a throw-away hash is still verified, the same way, so
        the response time does not tell which e-mail addresses have accounts.
        """
        if password_hash is None:
            if self._unknown_user_hash is None:
                self._unknown_user_hash = await self.hash(secrets.token_urlsafe(16))
            await self._in_thread(self._verify, password, self._unknown_user_hash)
            return False, None
        return await self._in_thread(self._verify, password, password_hash)

    def _verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """The normalised password, then (for a hash stored before passwords were normalised) the
        password as typed; a match of the latter returns the hash of the normalised form to store.
        A new hash is also returned when the stored one used older parameters."""
        normal = normalised(password)
        valid, new_hash = self._password_hash.verify_and_update(normal, password_hash)
        if valid or normal == password:
            return valid, new_hash
        if self._password_hash.verify(password, password_hash):
            return True, self._password_hash.hash(normal)
        return False, None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token: str
    jti: str
    session_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    jti: str
    session_id: str  # the login session (`sid`) both tokens of a login carry


class TokenService:
    """Issues and verifies HMAC-signed JWTs; only the configured algorithm is ever accepted.

    Tokens are signed with SECRET_KEY; those signed with one of SECRET_KEY_FALLBACKS still verify,
    so that a new key can roll out without ending every session.
    """

    def __init__(self, settings: Settings) -> None:
        self._verification_keys = settings.verification_keys
        self._key = self._verification_keys[0]  # signs
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self.access_ttl = timedelta(seconds=settings.access_token_ttl_seconds)
        self.refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)

    def _encode(self, user_id: int, token_type: TokenType, ttl: timedelta, **extra: str) -> tuple[str, str, datetime]:
        now = datetime.now(UTC)
        jti = uuid.uuid4().hex
        claims = {
            "sub": str(user_id),
            "type": token_type,
            "iss": self._issuer,
            "iat": now,
            "exp": now + ttl,
            "jti": jti,
        }
        return jwt.encode({**claims, **extra}, self._key, algorithm=self._algorithm), jti, now + ttl

    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    def issue_access_token(self, user_id: int, session_id: str) -> str:
        token, _, _ = self._encode(user_id, "access", self.access_ttl, sid=session_id)
        return token

    def issue_refresh_token(self, user_id: int, session_id: str) -> RefreshToken:
        token, jti, expires_at = self._encode(user_id, "refresh", self.refresh_ttl, sid=session_id)
        return RefreshToken(token=token, jti=jti, session_id=session_id, expires_at=expires_at)

    def verify(self, token: str, expected_type: TokenType) -> TokenClaims:
        """The claims of a valid, unexpired token of the expected type; AuthenticationError otherwise."""
        try:
            claims = self._decode(token)
            if claims.get("type") != expected_type:
                raise AuthenticationError("Wrong token type")
            return TokenClaims(
                user_id=int(claims["sub"]),
                jti=str(claims["jti"]),
                session_id=str(claims["sid"]),
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise AuthenticationError from error

    def _decode(self, token: str) -> dict[str, Any]:
        """The verified claims; each key is tried in turn while the signature does not match it."""
        *keys_before_last, last_key = self._verification_keys
        for key in keys_before_last:
            with contextlib.suppress(jwt.InvalidSignatureError):
                return self._decode_with(key, token)
        return self._decode_with(last_key, token)

    def _decode_with(self, key: str, token: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(  # older PyJWT releases type it Any
            token,
            key,
            algorithms=[self._algorithm],
            issuer=self._issuer,
            options={"require": ["exp", "iat", "jti", "sub", "iss", "sid"]},
        )
        return claims


def new_account_token() -> str:
    """A single-use token for a link or the second login step: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_account_token(token: str) -> str:
    """What the database stores: SHA-256 suffices for 256 random bits (no guessing, no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
