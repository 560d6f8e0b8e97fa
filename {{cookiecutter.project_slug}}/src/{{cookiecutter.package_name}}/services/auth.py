"""Registration, login (with the second step for two-factor users), refresh-token rotation,
logout, password changes, the password-checked two-factor changes, and deleting one's account.
`confirm_owner` is the password (and code) check other services use for such changes.

Every login is a login session: its access and refresh tokens carry the session's id, and each
authenticated request checks that the session is live and the user active (`authenticate`). So
logging out, deactivating a user, changing their role or password takes effect at the next
request, not when the access token expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.availability import is_unavailable
from ..core.exceptions import AuthenticationError, ConflictError, InvalidCodeError, InvalidCredentialsError
from ..core.ratelimit import LoginGuard
from ..core.security import PasswordHasher, TokenService, new_account_token
from ..core.security import RefreshToken as IssuedRefreshToken
from ..db.models import SPENT_BY_A_NEW_PASSWORD, Role, TokenPurpose, User, utc_now
from ..db.repositories import (
    EXPIRING_CREDENTIALS,
    AccountTokenRepository,
    LoginSessionRepository,
    RefreshTokenRepository,
    UserRepository,
    delete_expired,
)
from ..mail import Outbox
from .audit import Action, AuditTrail, Origin, Outcome
from .purges import delete_in_batches
from .two_factor import Enrolment, TwoFactorService

log = structlog.get_logger(__name__)

# A change checked against the password, which a reset or an admin replaced before it was written.
CREDENTIALS_CHANGED_MEANWHILE = "The password was changed meanwhile: log in again"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None  # None for a session that ends with its access token (the web UI's)
    expires_in: int


@dataclass(frozen=True, slots=True)
class SecondFactorRequired:
    """The password was right; `mfa_token` and a code from the user's authenticator finish the login."""

    mfa_token: str


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


async def purge_expired_credentials(session: AsyncSession) -> dict[str, int]:
    """Delete expired login sessions, refresh tokens and account tokens, in batches that each commit;
    how many, by table."""
    now = utc_now()
    purged = {
        model.__tablename__: await delete_in_batches(session, partial(delete_expired, session, model, now))
        for model in EXPIRING_CREDENTIALS
    }
    log.info("expired_credentials_purged", **purged)
    return purged


async def register_user(
    session: AsyncSession,
    passwords: PasswordHasher,
    audit: AuditTrail,
    email: str,
    password: str,
    role: Role = Role.MEMBER,
    *,
    email_verified: bool = False,
) -> User:
    """Create an account (ConflictError when the e-mail address is taken) and commit."""
    user = await UserRepository(session).add(email, await passwords.hash(password), role)
    if email_verified:
        user.email_verified_at = utc_now()
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
        two_factor: TwoFactorService,
        outbox: Outbox,
        origin: Origin,
        mfa_token_ttl: timedelta,
    ) -> None:
        self.session = session
        self.passwords = passwords
        self.tokens = tokens
        self.login_guard = login_guard
        self.audit = audit
        self.two_factor = two_factor
        self.outbox = outbox
        self.origin = origin  # where the request came from: on the sessions it starts, and in the login guard's counts
        self.mfa_token_ttl = mfa_token_ttl
        self.users = UserRepository(session)
        self.login_sessions = LoginSessionRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.account_tokens = AccountTokenRepository(session)

    async def login(
        self, email: str, password: str, *, refreshable: bool = True
    ) -> IssuedTokens | SecondFactorRequired:
        """Tokens of a new session, or for a two-factor user the token of the second step. A session
        that is not `refreshable` gets no refresh token and ends when its access token expires.

        RateLimitedError while limited or locked out, InvalidCredentialsError otherwise.
        """
        # Looked up first: an attempt that fails because the database does is not counted as a failure.
        user = await self.users.by_email(email)
        # The connection goes back to the pool while the password is hashed, so a flood of logins
        # cannot hold every connection; `hold_password` checks the hash again under a row lock.
        await self.session.commit()
        await self.login_guard.check(email, self.origin.client_ip)
        valid, new_hash = await self.passwords.verify(password, user.password_hash if user else None)
        if user is None or not valid or not user.is_active:
            await self._record_failed_check(Action.LOGIN, email, user)
            raise InvalidCredentialsError
        try:
            return await self._log_in_with_the_right_password(email, password, user, new_hash, refreshable)
        except Exception as error:
            # The database failed after the right password: the attempt must not stay counted as a
            # failure, or a failover would lock out everyone who tried again. A two-factor user's
            # count waits for the code, as always.
            if is_unavailable(error) and not user.two_factor_enabled:
                await self.login_guard.record_success(email)
            raise

    async def _log_in_with_the_right_password(
        self, email: str, password: str, user: User, new_hash: str | None, refreshable: bool
    ) -> IssuedTokens | SecondFactorRequired:
        # The password must still be the one checked: a change or reset that committed meanwhile ends
        # every session, and this login's too.
        if not await self.users.hold_password(user, new_hash) and not await self._still_the_password(user, password):
            await self._record_failed_check(Action.LOGIN, email, user)
            raise InvalidCredentialsError
        if user.two_factor_enabled:
            # The attempt counts as a failure until the code is right: a known password does not
            # reset the count.
            mfa_token = new_account_token()
            await self.account_tokens.add(mfa_token, user.id, TokenPurpose.MFA_LOGIN, self.mfa_token_ttl)
            await self.session.commit()
            return SecondFactorRequired(mfa_token)
        return await self._start_session(user, refreshable)

    async def _still_the_password(self, user: User, password: str) -> bool:
        """The stored hash changed since the password was checked: a concurrent login may have stored
        it made again with raised ARGON2_* parameters. The password is checked again against it, with
        the row held (a change or reset still waits for this login); False when a change replaced it."""
        current = await self.users.lock(user.id)
        if current is None or not current.is_active:
            return False
        valid, _ = await self.passwords.verify(password, current.password_hash)
        return valid

    async def complete_login(self, mfa_token: str, code: str, *, refreshable: bool = True) -> IssuedTokens:
        """The second step: a TOTP or recovery code. Wrong codes count toward the lockout like wrong passwords."""
        user_id = await self.account_tokens.user_id_of(mfa_token, TokenPurpose.MFA_LOGIN)
        user = await self.users.by_id(user_id) if user_id is not None else None
        if user is None or not user.is_active:
            raise AuthenticationError("The login step expired or is unknown: log in again")
        await self.login_guard.check(user.email, self.origin.client_ip)
        if not await self.two_factor.accept_code(user, code):
            await self._record_failed_check(Action.SECOND_FACTOR, user.email, user)
            raise InvalidCredentialsError("The code is incorrect or was already used")
        if await self.account_tokens.consume(mfa_token, TokenPurpose.MFA_LOGIN) is None:
            raise AuthenticationError("The login step was already completed: log in again")
        return await self._start_session(user, refreshable)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate: the presented token is spent and a new pair issued in the same session.

        A token presented a second time means it leaked (or a client raced itself): the whole
        session is revoked, so whoever holds the newer tokens must log in again.
        """
        claims = self.tokens.verify(refresh_token, "refresh")
        if not await self.refresh_tokens.mark_used(claims.jti):
            if not await self.refresh_tokens.exists(claims.jti):  # deleted with its account: no reuse
                raise AuthenticationError
            await self.login_sessions.revoke(claims.session_id)
            self.audit.record(
                Action.REFRESH_TOKEN_REUSE, Outcome.FAILURE, actor_id=claims.user_id, target_user_id=claims.user_id
            )
            await self.session.commit()
            raise AuthenticationError("Refresh token was already used or revoked")
        if await self.login_sessions.active_role(claims.session_id, claims.user_id) is None:
            raise AuthenticationError
        refresh = self.tokens.issue_refresh_token(claims.user_id, claims.session_id)
        await self.login_sessions.renew(claims.session_id, refresh.expires_at)
        return await self._issue(claims.user_id, claims.session_id, refresh)

    async def logout(self, principal: Principal) -> None:
        """End the caller's session: its access and refresh tokens stop working."""
        await self.login_sessions.revoke(principal.session_id)
        self.audit.record(Action.LOGOUT, actor_id=principal.user_id, target_user_id=principal.user_id)
        await self.session.commit()

    async def change_password(self, principal: Principal, current_password: str, new_password: str) -> None:
        """Replace the password, end every session of the user (this one included) and spend the
        links the old password could still use.

        The current password is checked like a login (rate limit and lockout included), so a
        stolen access token alone cannot take the account over.
        """
        user = await self.users.get(principal.user_id)
        await self._check_current_password(user, current_password, Action.PASSWORD_CHANGE)
        if not await self.users.hold_password(user, await self.passwords.hash(new_password)):
            raise AuthenticationError(CREDENTIALS_CHANGED_MEANWHILE)
        await self.account_tokens.spend_all(user.id, *SPENT_BY_A_NEW_PASSWORD)
        await self.login_sessions.revoke_all(user.id)
        self.audit.record(Action.PASSWORD_CHANGE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()

    async def start_two_factor(self, user: User, password: str) -> Enrolment:
        """A new authenticator secret, once the password is confirmed: a stolen access token alone
        cannot put the attacker's authenticator on the account."""
        if user.two_factor_enabled:
            raise ConflictError("Two-factor login is already enabled: disable it first")
        await self._check_current_password(user, password, Action.TWO_FACTOR_ENABLE)
        return await self.two_factor.start_enrolment(user)

    async def enable_two_factor(self, user: User, code: str) -> list[str]:
        """Switch two-factor login on with a code from the new authenticator; returns the recovery
        codes. Codes count toward the lockout: a stolen access token cannot guess its way to them."""
        await self.login_guard.check(user.email, self.origin.client_ip)
        try:
            codes = await self.two_factor.enable(user, code)
        except InvalidCodeError:
            await self._record_failed_check(Action.TWO_FACTOR_ENABLE, user.email, user)
            raise
        await self.login_guard.record_success(user.email)
        return codes

    async def disable_two_factor(self, principal: Principal, password: str, code: str) -> None:
        user = await self._confirm_identity(principal, password, code)
        await self.two_factor.disable(user)

    async def regenerate_recovery_codes(self, principal: Principal, password: str, code: str) -> list[str]:
        """New recovery codes; the old ones stop working."""
        user = await self._confirm_identity(principal, password, code)
        return await self.two_factor.regenerate_recovery_codes(user)

    async def delete_account(self, principal: Principal, password: str, code: str | None) -> None:
        """Delete the account with everything it owns; the audit log keeps its id, not its address.

        Needs the password, and a current code when two-factor login is on. An admin's account is
        deleted by another admin (ConflictError), which keeps the last-admin rule in one place.
        """
        user = await self.users.get(principal.user_id)
        if user.role == Role.ADMIN:
            raise ConflictError("An admin account is deleted by another admin")
        await self.confirm_owner(principal, password, code, Action.ACCOUNT_DELETE)
        await self.users.delete(user.id)
        self.audit.record(Action.ACCOUNT_DELETE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        self.outbox.send("account_deleted", user.email)

    async def confirm_owner(self, principal: Principal, password: str, code: str | None, action: Action) -> User:
        """The user, once the password is right, and a current code too when two-factor login is on:
        for changes that a stolen access token alone must not make. Wrong ones count toward the lockout."""
        user = await self.users.get(principal.user_id)
        if user.two_factor_enabled:
            return await self._confirm_identity(principal, password, code or "", action)
        await self._check_current_password(user, password, action)
        return user

    async def _confirm_identity(
        self, principal: Principal, password: str, code: str, action: Action = Action.SECOND_FACTOR
    ) -> User:
        """The user, when both the password and a current code (or a recovery code) are right; wrong
        ones are a failed `action`."""
        user = await self.users.get(principal.user_id)
        if not user.two_factor_enabled:
            raise ConflictError("Two-factor login is not enabled")
        await self.login_guard.check(user.email, self.origin.client_ip)
        valid, _ = await self.passwords.verify(password, user.password_hash)
        if not valid or not await self.two_factor.accept_code(user, code):
            await self._record_failed_check(action, user.email, user)
            raise InvalidCredentialsError("Incorrect password or code")
        await self.login_guard.record_success(user.email)
        return user

    async def _check_current_password(self, user: User, password: str, action: Action) -> None:
        """Checked like a login (rate limit and lockout included); a wrong one is a failed `action`.

        For a two-factor user the password alone is half a login: it leaves the count standing, or
        the right password would let wrong codes be guessed without end."""
        await self.login_guard.check(user.email, self.origin.client_ip)
        valid, _ = await self.passwords.verify(password, user.password_hash)
        if not valid:
            await self._record_failed_check(action, user.email, user)
            raise InvalidCredentialsError("The current password is incorrect")
        if not user.two_factor_enabled:
            await self.login_guard.record_success(user.email)

    async def _start_session(self, user: User, refreshable: bool) -> IssuedTokens:
        """A new login session, recording where the request came from; it lasts as long as the
        refresh token, or without one as long as the access token."""
        await self.login_guard.record_success(user.email)
        session_id = self.tokens.new_session_id()
        refresh = self.tokens.issue_refresh_token(user.id, session_id) if refreshable else None
        expires_at = refresh.expires_at if refresh else utc_now() + self.tokens.access_ttl
        origin = self.origin
        await self.login_sessions.add(
            session_id, user.id, expires_at=expires_at, client_ip=origin.client_ip, user_agent=origin.user_agent
        )
        self.audit.record(Action.LOGIN, actor_id=user.id, target_user_id=user.id)
        return await self._issue(user.id, session_id, refresh)

    async def _record_failed_check(self, action: Action, email: str, user: User | None) -> None:
        """Commit the audit events of a wrong password or code on their own (the login guard counted
        the attempt as a failure when it began); one of them may have locked the account, and the
        first to find it locked records the lockout."""
        target = user.id if user else None
        self.audit.record(action, Outcome.FAILURE, target_user_id=target)
        if await self.login_guard.newly_locked(email):
            self.audit.record(Action.LOCKOUT, target_user_id=target)
        await self.session.commit()

    async def _issue(self, user_id: int, session_id: str, refresh: IssuedRefreshToken | None) -> IssuedTokens:
        if refresh is not None:
            await self.refresh_tokens.add(user_id, refresh)
        await self.session.commit()
        return IssuedTokens(
            access_token=self.tokens.issue_access_token(user_id, session_id),
            refresh_token=refresh.token if refresh else None,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
        )
