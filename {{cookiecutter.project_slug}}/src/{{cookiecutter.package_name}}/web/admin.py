"""The administrators' page: every account with its role and state, a button to switch it off or on,
and one to reset its two-factor login.

It works through the admin API's own service, so the same rules hold: each change is audited,
a deactivated user's sessions end at once, the last active admin cannot be deactivated, and
resetting two-factor login ends the account's sessions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from ..api.deps import AdminActions, UserId
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
    email: Annotated[str, Query(max_length=320)] = "",
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
        "email": email,
        "page": page,
        "has_next": len(rows) > PAGE_SIZE,
        "error": error,
    }
    return render(request, "admin_users.html", values, 409 if error else 200)


async def set_active(
    request: Request, admin: Principal, actions: AdminService, user_id: int, csrf_token: str, *, active: bool
) -> Response:
    check_csrf(request, csrf_token)
    try:
        await actions.update_user(admin, user_id, role=None, is_active=active)
    except ConflictError as error:
        return await render_users(request, admin, actions, error=error.message)  # the last active admin
    return redirect("/admin/users", done="reactivated" if active else "deactivated")


@router.post("/users/{user_id:int}/deactivate")
async def deactivate(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    return await set_active(request, admin, actions, user_id, csrf_token, active=False)


@router.post("/users/{user_id:int}/reactivate")
async def reactivate(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    return await set_active(request, admin, actions, user_id, csrf_token, active=True)


@router.post("/users/{user_id:int}/reset-2fa")
async def reset_two_factor(
    request: Request, admin: SignedInAdmin, actions: AdminActions, user_id: UserId, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    try:
        await actions.reset_two_factor(admin, user_id)
    except ConflictError as error:
        return await render_users(request, admin, actions, error=error.message)  # already off (another tab)
    return redirect("/admin/users", done="two-factor-reset")
