"""Registration, login (OAuth2 password flow), refresh-token rotation and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from ...core.errors import documented_errors
from ...db.models import User
from ...services.auth import IssuedTokens, register_user
from ..deps import Audit, Auth, Context, CurrentUser, Session, client_ip
from . import PREFIX
from .schemas import RefreshRequest, Registration, TokenPair, UserRead

router = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=documented_errors(400, 409, 422),
    summary="Create an account",
)
async def register(body: Registration, session: Session, context: Context, audit: Audit) -> User:
    """Passwords need 12+ characters and must not be common; the e-mail address must be unused."""
    return await register_user(session, context.passwords, audit, body.email, body.password)


@router.post(
    "/token",
    response_model=TokenPair,
    responses=documented_errors(400, 401, 422, 429),
    summary="Log in: exchange e-mail and password for tokens",
)
async def issue_tokens(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, auth: Auth
) -> IssuedTokens:
    """OAuth2 password flow (`username` is the e-mail address). Repeated failures lock the account for a while."""
    email = form.username.strip().lower()
    return await auth.login(email, form.password, client_ip(request))


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses=documented_errors(400, 401, 422),
    summary="Exchange a refresh token for a new token pair",
)
async def refresh_tokens(body: RefreshRequest, auth: Auth) -> IssuedTokens:
    """Each refresh token works once. Presenting a used one revokes every token issued from the same login."""
    return await auth.refresh(body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(401),
    summary="Log out: end this session",
)
async def logout(user: CurrentUser, auth: Auth) -> None:
    """The session's access and refresh tokens stop working at once; other sessions are untouched."""
    await auth.logout(user)
