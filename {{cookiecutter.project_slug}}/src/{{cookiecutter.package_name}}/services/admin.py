"""What administrators do: look at accounts, change roles, switch accounts off and on, end sessions,
require a new password, reset two-factor login, delete accounts."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ..core.exceptions import ConflictError, NotFoundError, PermissionDeniedError
from ..core.security import PasswordHasher
from ..db.models import SPENT_BY_A_NEW_PASSWORD, AuditEvent, Role, User
from ..db.repositories import (
    AccountTokenRepository,
    AuditEventRepository,
    AuditFilters,
    LoginSessionRepository,
    UserFilters,
    UserRepository,
)
from ..mail import Outbox
from .audit import Action, AuditTrail
from .auth import Principal
from .two_factor import TwoFactorService

LAST_ADMIN = "The last active admin cannot be demoted, deactivated or deleted"
OWN_TWO_FACTOR = "Turn off your own two-factor login with your password and a code, as every user does"
OWN_ACCOUNT = "Change your own password with the current one, as every user does"


class AdminService:
    def __init__(
        self,
        session: AsyncSession,
        audit: AuditTrail,
        passwords: PasswordHasher,
        two_factor: TwoFactorService,
        outbox: Outbox,
    ) -> None:
        self.session = session
        self.audit = audit
        self.passwords = passwords
        self.two_factor = two_factor
        self.outbox = outbox
        self.users = UserRepository(session)
        self.login_sessions = LoginSessionRepository(session)
        self.account_tokens = AccountTokenRepository(session)

    async def list_users(self, admin: Principal, filters: UserFilters, *, limit: int, offset: int) -> Sequence[User]:
        users = await self.users.page(filters, limit=limit, offset=offset)
        self.audit.record(Action.LIST_USERS, actor_id=admin.user_id)
        await self.session.commit()
        return users

    async def get_user(self, admin: Principal, user_id: int) -> User:
        user = await self.users.get(user_id)
        self.audit.record(Action.READ_USER, actor_id=admin.user_id, target_user_id=user_id)
        await self.session.commit()
        return user

    async def update_user(self, admin: Principal, user_id: int, *, role: Role | None, is_active: bool | None) -> User:
        """Change the role and/or active flag; either change ends every session of the user.

        ConflictError when it would leave no active admin (nobody could administer the service).
        """
        await self._still_an_admin(admin)
        user = await self._hold(user_id)
        is_active_admin = user.role == Role.ADMIN and user.is_active
        stays_active_admin = (role or user.role) == Role.ADMIN and (user.is_active if is_active is None else is_active)
        steps_down = is_active_admin and not stays_active_admin
        if steps_down:
            await self._refuse_the_last_admin()
        changed = False
        if role is not None and role != user.role:
            user.role = role
            self.audit.record(Action.ROLE_CHANGE, actor_id=admin.user_id, target_user_id=user_id, detail=role.value)
            changed = True
        if is_active is not None and is_active != user.is_active:
            user.is_active = is_active
            action = Action.REACTIVATE if is_active else Action.DEACTIVATE
            self.audit.record(action, actor_id=admin.user_id, target_user_id=user_id)
            changed = True
        if steps_down:
            await self._refuse_leaving_no_admin()
        if changed:
            if user.is_active:
                await self.login_sessions.revoke_all(user_id)
            else:
                await self._end_access(user_id)
            await self.session.commit()
        return user

    async def revoke_sessions(self, admin: Principal, user_id: int) -> None:
        await self._still_an_admin(admin)
        await self._hold(user_id)
        await self._end_access(user_id)
        self.audit.record(Action.REVOKE_SESSIONS, actor_id=admin.user_id, target_user_id=user_id)
        await self.session.commit()

    async def require_new_password(self, admin: Principal, user_id: int) -> None:
        """For an account whose password someone else may know: the password stops working (it is
        replaced by a random one that nobody is told), every session ends and pending links are
        spent. The account stays active, so its owner, told by e-mail, sets a new password with a
        reset link, and whoever knew the old one cannot log in meanwhile. ConflictError for the
        admin's own account: that takes the current password, as for anyone.
        """
        if user_id == admin.user_id:
            raise ConflictError(OWN_ACCOUNT)
        unknown_password = await self.passwords.hash(secrets.token_urlsafe(32))  # before rows are held: it is slow
        await self._still_an_admin(admin)
        user = await self._hold(user_id)
        user.password_hash = unknown_password
        await self._end_access(user_id)
        self.audit.record(Action.NEW_PASSWORD_REQUIRED, actor_id=admin.user_id, target_user_id=user_id)
        await self.session.commit()
        self.outbox.send("new_password_required", user.email)

    async def reset_two_factor(self, admin: Principal, user_id: int) -> None:
        """Two-factor login off for a user who lost the authenticator and the recovery codes.

        Their sessions end too, in case it was not the owner who turned it on. ConflictError when it is
        off, and for the admin's own account: that takes the password and a code, as for anyone.
        """
        if user_id == admin.user_id:
            raise ConflictError(OWN_TWO_FACTOR)
        await self._still_an_admin(admin)
        user = await self._hold(user_id)
        if not user.two_factor_enabled:
            raise ConflictError("Two-factor login is not enabled")
        await self.two_factor.switch_off(user)
        # Only now: a login that was completing with a code holds the rows just changed, so its
        # session has been written by the time the sessions end.
        await self._end_access(user_id)
        self.audit.record(Action.TWO_FACTOR_RESET, actor_id=admin.user_id, target_user_id=user_id)
        await self.session.commit()
        self.outbox.send("two_factor_disabled", user.email)

    async def delete_user(self, admin: Principal, user_id: int) -> None:
        """Delete an account with everything it owns; ConflictError for the last active admin."""
        await self._still_an_admin(admin)
        user = await self._hold(user_id)
        is_active_admin = user.role == Role.ADMIN and user.is_active
        if is_active_admin:
            await self._refuse_the_last_admin()
        await self.users.delete(user_id)
        if is_active_admin:
            await self._refuse_leaving_no_admin()
        self.audit.record(Action.DELETE_USER, actor_id=admin.user_id, target_user_id=user_id)
        await self.session.commit()
        self.outbox.send("account_deleted", user.email)

    async def _still_an_admin(self, admin: Principal) -> None:
        """The role was checked when the request began; another admin may have demoted, deactivated
        or deleted this one since. Checked again with the admins' rows held, so the changes take turns."""
        if admin.user_id not in await self.users.lock_active_admins():
            raise PermissionDeniedError

    async def _hold(self, user_id: int) -> User:
        """The user, with its row held (`UserRepository.lock`, after the admins' rows); NotFoundError when unknown."""
        user = await self.users.lock(user_id)
        if user is None:
            raise NotFoundError("User not found")
        return user

    async def _end_access(self, user_id: int) -> None:
        """End every session of the user and spend the links they left pending (password reset,
        address change, a login's second step): whoever took the account over loses those too."""
        await self.login_sessions.revoke_all(user_id)
        await self.account_tokens.spend_all(user_id, *SPENT_BY_A_NEW_PASSWORD)

    async def _refuse_the_last_admin(self) -> None:
        if len(await self.users.lock_active_admins()) <= 1:
            raise ConflictError(LAST_ADMIN)

    async def _refuse_leaving_no_admin(self) -> None:
        """SQLite ignores FOR UPDATE, so two admins removing each other can both pass the check
        before the change. Counted again after it is written (SQLite's write lock held), the second
        one sees the first."""
        if not await self.users.lock_active_admins():
            await self.session.rollback()
            raise ConflictError(LAST_ADMIN)

    async def audit_events(self, filters: AuditFilters, *, limit: int, offset: int) -> Sequence[AuditEvent]:
        return await AuditEventRepository(self.session).page(filters, limit=limit, offset=offset)
