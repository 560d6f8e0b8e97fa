"""Password reset and e-mail verification: single-use links sent by e-mail.

`LinkRequests` takes the requests that mail a link (sign-up among them); `AccountRecovery` sends
the links, after the response (see `api/deps.RecoveryMail`), and takes them back. So a
password-reset request answers the same, in the same time, whether or not the address has an
account: the account is looked up only once the answer has been sent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import InvalidTokenError
from ..core.ratelimit import LoginGuard
from ..core.security import PasswordHasher, new_account_token
from ..db.models import SPENT_BY_A_NEW_PASSWORD, TokenPurpose, User, utc_now
from ..db.repositories import AccountTokenRepository, LoginSessionRepository, UserRepository
from ..mail import Mailer
from ..settings import Settings
from .audit import Action, AuditTrail, Origin, Outcome
from .auth import register_user

# The pages under PUBLIC_BASE_URL that take the links' tokens.
RESET_PAGE = "/reset-password"
VERIFY_PAGE = "/verify-email"
INVALID_RESET_LINK = "The reset link is invalid, expired or already used: ask for a new one"


class LinkMails(Protocol):
    """Mails a link after the response (`api/deps.RecoveryMail`)."""

    def send_password_reset(self, email: str) -> None: ...

    def send_verification(self, user_id: int) -> None: ...


class LinkRequests:
    """Sign-up and the requests for a link by mail: a forgotten password, the verification link again.

    Each first spends the e-mail budget of the address and of the client (RateLimitedError when
    either is spent), whichever page or route it comes from, so none can be used to flood an inbox.
    """

    def __init__(
        self,
        session: AsyncSession,
        passwords: PasswordHasher,
        login_guard: LoginGuard,
        audit: AuditTrail,
        mails: LinkMails,
        origin: Origin,
    ) -> None:
        self.session = session
        self.passwords = passwords
        self.login_guard = login_guard
        self.audit = audit
        self.mails = mails
        self.origin = origin  # the client whose e-mail budget each request spends

    async def register(self, email: str, password: str) -> User:
        """Create a member's account (ConflictError when the address is taken) and mail it a verification link."""
        await self.login_guard.check_sending(email, self.origin.client_ip)
        user = await register_user(self.session, self.passwords, self.audit, email, password)
        self.mails.send_verification(user.id)
        return user

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link if the address has an active account; the caller cannot tell which."""
        await self.login_guard.check_sending(email, self.origin.client_ip)
        self.mails.send_password_reset(email)

    async def resend_verification(self, user_id: int) -> None:
        """Mail the verification link again; nothing is sent once the address is verified."""
        user = await UserRepository(self.session).get(user_id)
        await self.login_guard.check_sending(user.email, self.origin.client_ip)
        self.mails.send_verification(user.id)


class AccountRecovery:
    def __init__(
        self,
        session: AsyncSession,
        audit: AuditTrail,
        passwords: PasswordHasher,
        login_guard: LoginGuard,
        mailer: Mailer,
        settings: Settings,
    ) -> None:
        self.session = session
        self.audit = audit
        self.passwords = passwords
        self.login_guard = login_guard
        self.mailer = mailer
        self.settings = settings
        self.users = UserRepository(session)
        self.tokens = AccountTokenRepository(session)
        self.login_sessions = LoginSessionRepository(session)

    async def send_password_reset(self, email: str) -> None:
        """E-mail a reset link to an active account's address; for other addresses nothing is sent."""
        user = await self.users.by_email(email)
        if user is None or not user.is_active:
            self.audit.record(Action.PASSWORD_RESET_REQUEST, Outcome.FAILURE)
            await self.session.commit()
            return
        ttl = timedelta(seconds=self.settings.password_reset_ttl_seconds)
        link = await self._new_link(user.id, TokenPurpose.PASSWORD_RESET, ttl, RESET_PAGE)
        self.audit.record(Action.PASSWORD_RESET_REQUEST, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        await self._send("password_reset", user.email, link, ttl)

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set the new password, end every session of the user and spend its outstanding links.

        The link proves the address is the user's, so it also counts as verifying it, and it
        lifts a lockout: the owner got back in the way the lockout cannot stop.
        """
        if await self.tokens.user_id_of(token, TokenPurpose.PASSWORD_RESET) is None:
            raise InvalidTokenError(INVALID_RESET_LINK)
        new_hash = await self.passwords.hash(new_password)  # before the account is held: it is slow
        user = await self.tokens.lock_owner(token, TokenPurpose.PASSWORD_RESET)
        spent = user is not None and await self.tokens.consume(token, TokenPurpose.PASSWORD_RESET) is not None
        if user is None or not spent or not user.is_active:
            raise InvalidTokenError(INVALID_RESET_LINK)
        user.password_hash = new_hash
        user.email_verified_at = user.email_verified_at or utc_now()
        await self.tokens.spend_all(user.id, *SPENT_BY_A_NEW_PASSWORD)
        await self.login_sessions.revoke_all(user.id)
        self.audit.record(Action.PASSWORD_RESET, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        await self.login_guard.record_success(user.email)

    async def send_verification(self, user_id: int) -> None:
        """E-mail a verification link, unless the address is verified already."""
        user = await self.users.get(user_id)
        if user.email_verified_at is not None:
            return
        ttl = timedelta(seconds=self.settings.email_verification_ttl_seconds)
        link = await self._new_link(user.id, TokenPurpose.EMAIL_VERIFICATION, ttl, VERIFY_PAGE)
        self.audit.record(Action.EMAIL_VERIFICATION_SENT, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        await self._send("email_verification", user.email, link, ttl)

    async def verify_email(self, token: str) -> None:
        user = await self.tokens.lock_owner(token, TokenPurpose.EMAIL_VERIFICATION)
        if user is None or await self.tokens.consume(token, TokenPurpose.EMAIL_VERIFICATION) is None:
            raise InvalidTokenError("The verification link is invalid, expired or already used: ask for a new one")
        user.email_verified_at = user.email_verified_at or utc_now()
        await self.tokens.spend_all(user.id, TokenPurpose.EMAIL_VERIFICATION)
        self.audit.record(Action.EMAIL_VERIFY, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()

    async def _new_link(self, user_id: int, purpose: TokenPurpose, ttl: timedelta, page: str) -> str:
        token = new_account_token()
        await self.tokens.add(token, user_id, purpose, ttl)
        return link_to(self.settings, page, token)

    async def _send(self, template: str, to: str, link: str, ttl: timedelta) -> None:
        message = self.mailer.compose(
            template, to, expires_at=utc_now() + ttl, link=link, expires_in=duration_text(ttl)
        )
        await self.mailer.deliver(message)


def link_to(settings: Settings, page: str, token: str) -> str:
    """The address of `page` under PUBLIC_BASE_URL with the token in its query."""
    return f"{settings.public_base_url}{page}?{urlencode({'token': token})}"


def duration_text(duration: timedelta) -> str:
    """`2 days`, `1 hour`, `30 minutes`: the largest unit that divides the duration exactly."""
    seconds = int(duration.total_seconds())
    for unit, unit_seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % unit_seconds == 0:
            count = seconds // unit_seconds
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"
