"""The administrators' page: every account with its role and state, a button to switch it off or on,
one to reset its two-factor login, and deletion behind a page that asks to confirm.

It works through the admin API's own service, so the same rules hold: each change is audited,
a deactivated user's sessions end at once, the last active admin cannot be deactivated, and
resetting two-factor login ends the account's sessions, and the last active admin cannot be
deleted either.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from ..api.deps import AdminActions, UserId
from ..api.v1.schemas import WITHOUT_NUL
from ..core.exceptions import ConflictError
from ..db.repositories import UserFilters
from ..services.admin import AdminService
from ..services.auth import Principal
from .rendering import redirect, render
from .routes import PAGE_SIZE, FormText, PageNumber
from .session import SignedInAdmin, check_csrf, session_principal

router = APIRouter(prefix="/admin", dependencies=[Depends(session_principal)])


@router.get("/users")
async def users_page(
    request: Request,
    admin: SignedInAdmin,
    actions: AdminActions,
    email: Annotated[str, Query(max_length=320, pattern=WITHOUT_NUL)] = "",
    page: PageNumber = 1,
) -> Response:
    return await render_users(request, admin, actions, email.strip(), page)


async def render_users(
    request: Request, admin: Principal, actions: AdminService, email: str = "", page: int = 1, error: str | None = None
) -> Response:
    """The accounts whose address starts with `email` (all when empty), a page at a time."""
    filters = UserFilters(email_prefix=email or None)
    # One row more than a page tells whether a next page exists.
    rows = await actions.list_users(admin, filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    values = {
        "users": rows[:PAGE_SIZE],
        "admin_id": admin.user_id,
        "email": email,
        "page": page,
        "has_next": len(rows) > PAGE_SIZE,
        "error": error,
    }
    return render(request, "admin_users.html", values, 409 if error else 200)


async def change_then_list(
    request: Request, admin: Principal, actions: AdminService, change: Awaitable[object], done: str
) -> Response:
    """Make one change from the list page: back to the list with its notice, or with the reason
    the service refused it (the last active admin, two-factor login already off)."""
    try:
        await change
    except ConflictError as error:
        return await render_users(request, admin, actions, error=error.message)
    return redirect("/admin/users", done=done)


@router.post("/users/{user_id:int}/deactivate")
async def deactivate(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    change = actions.update_user(admin, user_id, role=None, is_active=False)
    return await change_then_list(request, admin, actions, change, "deactivated")


@router.post("/users/{user_id:int}/reactivate")
async def reactivate(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    change = actions.update_user(admin, user_id, role=None, is_active=True)
    return await change_then_list(request, admin, actions, change, "reactivated")


@router.post("/users/{user_id:int}/require-new-password")
async def require_new_password(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    change = actions.require_new_password(admin, user_id)
    return await change_then_list(request, admin, actions, change, "new-password-required")


@router.post("/users/{user_id:int}/reset-2fa")
async def reset_two_factor(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    return await change_then_list(request, admin, actions, actions.reset_two_factor(admin, user_id), "two-factor-reset")


@router.get("/users/{user_id:int}/delete")
async def confirm_deletion(request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId) -> Response:
    """Deletion cannot be undone, so the list's link leads here first."""
    user = await actions.get_user(admin, user_id)
    return render(request, "admin_delete_user.html", {"user_id": user.id, "email": user.email})


@router.post("/users/{user_id:int}/delete")
async def delete_user(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    return await change_then_list(request, admin, actions, actions.delete_user(admin, user_id), "user-deleted")
