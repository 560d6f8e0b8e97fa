"""Administration: accounts and the audit log. Every route needs the admin role."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from ...core.errors import documented_errors
from ...db.models import MAX_ID, AuditEvent, Role, User
from ...db.repositories import AuditFilters, UserFilters
from ..deps import Admin, AdminActions, UserId
from . import PREFIX
from .paging import AfterId, BeforeId, Limit, Offset
from .schemas import WITHOUT_NUL, AdminUserRead, AdminUserUpdate, AuditEventRead


def _iso_8601(value: object) -> object:
    """Only the ISO 8601 text the schema's date-time format promises (pydantic also takes Unix times)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC, as it is compared with stored times; one that UTC cannot hold is a 422."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Instant outside the years 1 to 9999 in UTC") from None


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_8601), AfterValidator(_in_utc)]

router = APIRouter(prefix=f"{PREFIX}/admin", tags=["admin"], responses=documented_errors(401, 403, 422))


@router.get("/users", response_model=list[AdminUserRead], summary="List accounts, oldest first")
async def list_users(
    admin: Admin,
    actions: AdminActions,
    email_prefix: Annotated[str | None, Query(max_length=320, pattern=WITHOUT_NUL)] = None,
    role: Role | None = None,
    is_active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after_id: AfterId = 0,
) -> Sequence[User]:
    """To walk every page, pass the last account's `id` as `after_id`: accounts deleted meanwhile
    cannot make the walk skip one, as they can with `offset`."""
    filters = UserFilters(email_prefix=email_prefix, role=role, is_active=is_active, after_id=after_id)
    return await actions.list_users(admin, filters, limit=limit, offset=offset)


@router.get(
    "/users/{user_id}", response_model=AdminUserRead, responses=documented_errors(404), summary="Read an account"
)
async def read_user(user_id: UserId, admin: Admin, actions: AdminActions) -> User:
    return await actions.get_user(admin, user_id)


@router.patch(
    "/users/{user_id}",
    response_model=AdminUserRead,
    responses=documented_errors(400, 404, 409, 413),
    summary="Change an account's role or switch it off and on",
)
async def update_user(user_id: UserId, body: AdminUserUpdate, admin: Admin, actions: AdminActions) -> User:
    """Either change logs the user out everywhere. The last active admin cannot be demoted or deactivated (409)."""
    return await actions.update_user(admin, user_id, role=body.role, is_active=body.is_active)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(404, 409),
    summary="Delete an account and everything it owns",
)
async def delete_user(user_id: UserId, admin: Admin, actions: AdminActions) -> None:
    """Mails the owner a notice; the audit log keeps the account's id. The last active admin cannot be deleted (409)."""
    await actions.delete_user(admin, user_id)


@router.post(
    "/users/{user_id}/revoke-sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(404),
    summary="Log an account out everywhere",
)
async def revoke_sessions(user_id: UserId, admin: Admin, actions: AdminActions) -> None:
    await actions.revoke_sessions(admin, user_id)


@router.post(
    "/users/{user_id}/require-new-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(404, 409),
    summary="Make an account's password stop working until its owner sets a new one",
)
async def require_new_password(user_id: UserId, admin: Admin, actions: AdminActions) -> None:
    """For an account whose password someone else may know. The account stays active, but its
    password no longer works: its sessions and pending links end, and its owner is told by e-mail
    to set a new password through the password-reset link (`POST /api/v1/auth/password-reset`).
    409 for your own account (change yours with your current password, as every user does)."""
    await actions.require_new_password(admin, user_id)


@router.post(
    "/users/{user_id}/reset-2fa",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(404, 409),
    summary="Turn off an account's two-factor login",
)
async def reset_two_factor(user_id: UserId, admin: Admin, actions: AdminActions) -> None:
    """For an owner who lost both the authenticator and the recovery codes: check who asks first.
    Ends the account's sessions and mails its owner a notice; 409 when two-factor login is off, and
    for your own account (turn yours off with your password and a code, as every user does)."""
    await actions.reset_two_factor(admin, user_id)


@router.get("/audit-events", response_model=list[AuditEventRead], summary="Read the audit log, newest first")
async def list_audit_events(
    _: Admin,
    actions: AdminActions,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=WITHOUT_NUL)] = None,
    target_type: Annotated[str | None, Query(max_length=32, pattern=WITHOUT_NUL)] = None,
    target_id: Annotated[str | None, Query(max_length=64, pattern=WITHOUT_NUL)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    before_id: BeforeId | None = None,
) -> Sequence[AuditEvent]:
    """To walk every page, pass the last event's `id` as `before_id`: events written meanwhile
    cannot make the walk repeat one, as they can with `offset`."""
    filters = AuditFilters(actor_id, action, target_type, target_id, since, until, before_id)
    return await actions.audit_events(filters, limit=limit, offset=offset)
