"""Registration, login and refresh-token rotation."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import AuthenticationError, InvalidCredentialsError
from ..core.ratelimit import LoginGuard
from ..core.security import PasswordHasher, TokenService
from ..db.models import User
from ..db.repositories import RefreshTokenRepository, UserRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


async def register_user(session: AsyncSession, passwords: PasswordHasher, email: str, password: str) -> User:
    """Create an account (ConflictError when the e-mail address is taken) and commit."""
    user = await UserRepository(session).add(email, await passwords.hash(password))
    await session.commit()
    return user


class AuthService:
    def __init__(
        self, session: AsyncSession, passwords: PasswordHasher, tokens: TokenService, login_guard: LoginGuard
    ) -> None:
        self.session = session
        self.passwords = passwords
        self.tokens = tokens
        self.login_guard = login_guard
        self.users = UserRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)

    async def login(self, email: str, password: str, client_ip: str) -> IssuedTokens:
        """Tokens for valid credentials; RateLimitedError while limited or locked out, InvalidCredentialsError otherwise."""
        await self.login_guard.check(email, client_ip)
        user = await self.users.by_email(email)
        valid, new_hash = await self.passwords.verify(password, user.password_hash if user else None)
        if user is None or not valid or not user.is_active:
            await self.login_guard.record_failure(email)
            log.info("login_failed", email=email, client_ip=client_ip)
            raise InvalidCredentialsError
        await self.login_guard.record_success(email)
        if new_hash is not None:  # hashing parameters were raised since this hash was made
            user.password_hash = new_hash
        return await self._issue(user.id, family_id=None)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate: the presented token is spent and a new pair issued in the same family.

        A token presented a second time means it leaked (or a client raced itself): the whole
        family is revoked, so whoever holds the newer tokens must log in again.
        """
        claims = self.tokens.verify(refresh_token, "refresh")
        if not await self.refresh_tokens.mark_used(claims.jti):
            if claims.family_id is not None:
                await self.refresh_tokens.revoke_family(claims.family_id)
                await self.session.commit()
            log.warning("refresh_token_reused", user_id=claims.user_id, family_id=claims.family_id)
            raise AuthenticationError("Refresh token was already used or revoked")
        user = await self.users.by_id(claims.user_id)
        if user is None or not user.is_active:
            raise AuthenticationError
        return await self._issue(user.id, family_id=claims.family_id)

    async def _issue(self, user_id: int, family_id: str | None) -> IssuedTokens:
        refresh = self.tokens.issue_refresh_token(user_id, family_id)
        await self.refresh_tokens.add(user_id, refresh)
        await self.session.commit()
        return IssuedTokens(
            access_token=self.tokens.issue_access_token(user_id),
            refresh_token=refresh.token,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
        )
