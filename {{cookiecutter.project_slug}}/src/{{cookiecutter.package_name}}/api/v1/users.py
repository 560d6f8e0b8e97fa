"""The authenticated user's own account."""

from __future__ import annotations

from fastapi import APIRouter

from ...core.errors import documented_errors
from ...core.exceptions import AuthenticationError
from ...db.models import User
from ...db.repositories import UserRepository
from ..deps import CurrentUserId, Session
from . import PREFIX
from .schemas import UserRead

router = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])


@router.get("/me", response_model=UserRead, responses=documented_errors(401), summary="The current user")
async def read_me(user_id: CurrentUserId, session: Session) -> User:
    user = await UserRepository(session).by_id(user_id)
    if user is None or not user.is_active:
        raise AuthenticationError
    return user
