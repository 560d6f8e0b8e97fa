"""Registration, login, refresh-token rotation, logout and password changes.

Every login is a login session: its access and refresh tokens carry the session's id, and each
authenticated request checks that the session is live and the user active (`authenticate`). So
logging out, deactivating a user, changing their role or password takes effect at the next
request, not when the access token expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import AuthenticationError, InvalidCredentialsError
from ..core.ratelimit import LoginGuard
from ..core.security import PasswordHasher, TokenService
from ..db.models import Role, User
from ..db.repositories import LoginSessionRepository, RefreshTokenRepository, UserRepository
from .audit import Action, AuditTrail, Outcome


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request: an active user in a live login session."""

    user_id: int
    role: Role
    session_id: str


async def authenticate(session: AsyncSession, tokens: TokenService, access_token: str) -> Principal:
    """The principal of a valid access token whose session is live; AuthenticationError otherwise."""
    claims = tokens.verify(access_token, "access")
    role = await LoginSessionRepository(session).active_role(claims.session_id, claims.user_id)
    if role is None:
        raise AuthenticationError
    return Principal(user_id=claims.user_id, role=role, session_id=claims.session_id)


async def register_user(
    session: AsyncSession,
    passwords: PasswordHasher,
    audit: AuditTrail,
    email: str,
    password: str,
    role: Role = Role.MEMBER,
) -> User:
    """Create an account (ConflictError when the e-mail address is taken) and commit."""
    user = await UserRepository(session).add(email, await passwords.hash(password), role)
    audit.record(Action.REGISTER, actor_id=user.id, target_user_id=user.id)
    await session.commit()
    return user


class AuthService:
    def __init__(
        self,
        session: AsyncSession,
        passwords: PasswordHasher,
        tokens: TokenService,
        login_guard: LoginGuard,
        audit: AuditTrail,
    ) -> None:
        self.session = session
        self.passwords = passwords
        self.tokens = tokens
        self.login_guard = login_guard
        self.audit = audit
        self.users = UserRepository(session)
        self.login_sessions = LoginSessionRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)

    async def login(self, email: str, password: str, client_ip: str) -> IssuedTokens:
        """Tokens of a new session; RateLimitedError while limited or locked out, InvalidCredentialsError otherwise."""
        await self.login_guard.check(email, client_ip)
        user = await self.users.by_email(email)
        valid, new_hash = await self.passwords.verify(password, user.password_hash if user else None)
        if user is None or not valid or not user.is_active:
            await self._record_failed_check(Action.LOGIN, email, user)
            raise InvalidCredentialsError
        await self.login_guard.record_success(email)
        if new_hash is not None:  # hashing parameters were raised since this hash was made
            user.password_hash = new_hash
        session_id = self.tokens.new_session_id()
        await self.login_sessions.add(session_id, user.id)
        self.audit.record(Action.LOGIN, actor_id=user.id, target_user_id=user.id)
        return await self._issue(user.id, session_id)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate: the presented token is spent and a new pair issued in the same session.

        A token presented a second time means it leaked (or a client raced itself): the whole
        session is revoked, so whoever holds the newer tokens must log in again.
        """
        claims = self.tokens.verify(refresh_token, "refresh")
        if not await self.refresh_tokens.mark_used(claims.jti):
            await self.login_sessions.revoke(claims.session_id)
            self.audit.record(
                Action.REFRESH_TOKEN_REUSE, Outcome.FAILURE, actor_id=claims.user_id, target_user_id=claims.user_id
            )
            await self.session.commit()
            raise AuthenticationError("Refresh token was already used or revoked")
        if await self.login_sessions.active_role(claims.session_id, claims.user_id) is None:
            raise AuthenticationError
        return await self._issue(claims.user_id, claims.session_id)

    async def logout(self, principal: Principal) -> None:
        """End the caller's session: its access and refresh tokens stop working."""
        await self.login_sessions.revoke(principal.session_id)
        self.audit.record(Action.LOGOUT, actor_id=principal.user_id, target_user_id=principal.user_id)
        await self.session.commit()

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str, client_ip: str
    ) -> None:
        """Replace the password and end every session of the user, this one included.

        The current password is checked like a login (rate limit and lockout included), so a
        stolen access token alone cannot take the account over.
        """
        user = await self.users.get(principal.user_id)
        await self.login_guard.check(user.email, client_ip)
        valid, _ = await self.passwords.verify(current_password, user.password_hash)
        if not valid:
            await self._record_failed_check(Action.PASSWORD_CHANGE, user.email, user)
            raise InvalidCredentialsError("The current password is incorrect")
        user.password_hash = await self.passwords.hash(new_password)
        await self.login_sessions.revoke_all(user.id)
        self.audit.record(Action.PASSWORD_CHANGE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()

    async def _record_failed_check(self, action: Action, email: str, user: User | None) -> None:
        """Count a wrong password (it may lock the account) and commit its audit events on their own."""
        target = user.id if user else None
        locked = await self.login_guard.record_failure(email)
        self.audit.record(action, Outcome.FAILURE, target_user_id=target)
        if locked:
            self.audit.record(Action.LOCKOUT, target_user_id=target)
        await self.session.commit()

    async def _issue(self, user_id: int, session_id: str) -> IssuedTokens:
        refresh = self.tokens.issue_refresh_token(user_id, session_id)
        await self.refresh_tokens.add(user_id, refresh)
        await self.session.commit()
        return IssuedTokens(
            access_token=self.tokens.issue_access_token(user_id, session_id),
            refresh_token=refresh.token,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
        )
