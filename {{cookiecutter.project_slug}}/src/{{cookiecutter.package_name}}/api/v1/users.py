"""The authenticated user's own account."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from ...core.errors import documented_errors
from ...db.models import User
from ...db.repositories import UserRepository
from ..deps import Auth, CurrentUser, Session, client_ip
from . import PREFIX
from .schemas import PasswordChange, UserRead

router = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])


@router.get("/me", response_model=UserRead, responses=documented_errors(401), summary="The current user")
async def read_me(user: CurrentUser, session: Session) -> User:
    return await UserRepository(session).get(user.user_id)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 401, 422, 429),
    summary="Change your password",
)
async def change_password(body: PasswordChange, user: CurrentUser, auth: Auth, request: Request) -> None:
    """Needs the current password (a wrong one counts as a failed login). Ends every session, this one too."""
    await auth.change_password(user, body.current_password, body.new_password, client_ip(request))
