"""Changing the e-mail address: the new address is confirmed by a link sent to it, then the old
address is told.

Asking needs the password, and a code when two-factor login is on, so a stolen access token alone
cannot move the account (and its password resets) to another mailbox. The address changes only
when the link is followed: until then logins and mail use the old one. A later request replaces
an earlier one (only the newest link works). The link counts as verifying the new address.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import AuthenticationError, ConflictError, InvalidTokenError
from ..core.ratelimit import LoginGuard
from ..core.security import new_account_token
from ..db.models import TokenPurpose, utc_now
from ..db.repositories import AccountTokenRepository, UserRepository
from ..mail import Outbox
from ..settings import Settings
from .account_recovery import duration_text, link_to
from .audit import Action, AuditTrail, Origin
from .auth import CREDENTIALS_CHANGED_MEANWHILE, AuthService, Principal

# The page under PUBLIC_BASE_URL that takes the link's token.
CONFIRM_PAGE = "/confirm-email-change"


class EmailChangeService:
    def __init__(
        self,
        session: AsyncSession,
        auth: AuthService,
        login_guard: LoginGuard,
        audit: AuditTrail,
        outbox: Outbox,
        settings: Settings,
        origin: Origin,
    ) -> None:
        self.session = session
        self.auth = auth
        self.login_guard = login_guard
        self.audit = audit
        self.outbox = outbox
        self.settings = settings
        self.origin = origin  # the client whose e-mail budget a request spends
        self.users = UserRepository(session)
        self.tokens = AccountTokenRepository(session)

    async def request(self, principal: Principal, new_email: str, password: str, code: str | None) -> None:
        """Mail a confirmation link to `new_email` (ConflictError when it is this or another account's).

        The e-mail budgets are spent before the address is looked up, so they also bound how fast
        anyone can ask whether an address has an account."""
        user = await self.auth.confirm_owner(principal, password, code, Action.EMAIL_CHANGE_REQUEST)
        await self.login_guard.check_sending(new_email, self.origin.client_ip)
        if new_email == user.email:
            raise ConflictError("This is already your e-mail address")
        if await self.users.by_email(new_email) is not None:
            raise ConflictError("An account with this e-mail address already exists")
        # Held from here, while the password is still the one checked: a concurrent request, or an
        # admin requiring a new password, waits, then spends this one's link.
        if not await self.users.hold_password(user, None):
            raise AuthenticationError(CREDENTIALS_CHANGED_MEANWHILE)
        await self.tokens.spend_all(user.id, TokenPurpose.EMAIL_CHANGE)
        token = new_account_token()
        ttl = timedelta(seconds=self.settings.email_verification_ttl_seconds)
        await self.tokens.add(token, user.id, TokenPurpose.EMAIL_CHANGE, ttl, new_email=new_email)
        self.audit.record(Action.EMAIL_CHANGE_REQUEST, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        link = link_to(self.settings, CONFIRM_PAGE, token)
        self.outbox.send(
            "email_change", new_email, expires_at=utc_now() + ttl, link=link, expires_in=duration_text(ttl)
        )

    async def confirm(self, token: str) -> None:
        """Move the account to the link's address, verified; ConflictError when another account took it since."""
        user = await self.tokens.lock_owner(token, TokenPurpose.EMAIL_CHANGE)
        spent = await self.tokens.consume_email_change(token) if user is not None else None
        if spent is None or user is None or not user.is_active:
            raise InvalidTokenError("The confirmation link is invalid, expired or already used: ask for a new one")
        new_email = spent[1]
        old_email = user.email
        await self.users.change_email(user, new_email)
        user.email_verified_at = utc_now()
        await self.tokens.spend_all(user.id, TokenPurpose.PASSWORD_RESET)  # mailed to the old address
        self.audit.record(Action.EMAIL_CHANGE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        self.outbox.send("email_changed", old_email)
