"""Registration, login (OAuth2 password flow, then a code for two-factor users), refresh-token
rotation, logout, password reset, e-mail verification and confirming a new e-mail address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from ...core.errors import documented_errors
from ...db.models import User
from ...services.auth import IssuedTokens, SecondFactorRequired
from ..deps import Auth, CurrentUser, EmailChanges, Links, Recovery
from . import PREFIX
from .schemas import (
    EmailChangeConfirmation,
    EmailVerification,
    PasswordReset,
    PasswordResetRequest,
    RefreshRequest,
    Registration,
    SecondFactorChallenge,
    SecondFactorLogin,
    TokenPair,
    UserRead,
    login_email,
)

router = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=documented_errors(400, 409, 413, 422, 429),
    summary="Create an account",
)
async def register(body: Registration, links: Links) -> User:
    """Passwords need 12+ characters and must not be common; the e-mail address must be unused.

    A verification link is sent to the address (rate limited per address and client).
    """
    return await links.register(body.email, body.password)


@router.post(
    "/token",
    response_model=TokenPair | SecondFactorChallenge,
    responses=documented_errors(400, 401, 413, 422, 429),
    summary="Log in: exchange e-mail and password for tokens",
)
async def issue_tokens(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], auth: Auth
) -> IssuedTokens | SecondFactorRequired:
    """OAuth2 password flow (`username` is the e-mail address). Repeated failures lock the account for a while.

    With two-factor login enabled the answer is `mfa_required` and an `mfa_token` for `/auth/mfa`.
    """
    return await auth.login(login_email(form.username), form.password)


@router.post(
    "/mfa",
    response_model=TokenPair,
    responses=documented_errors(400, 401, 413, 422, 429),
    summary="Log in, second step: a code from the authenticator or a recovery code",
)
async def complete_login(body: SecondFactorLogin, auth: Auth) -> IssuedTokens:
    """A code is accepted once; wrong codes count toward the same lockout as wrong passwords."""
    return await auth.complete_login(body.mfa_token, body.code)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses=documented_errors(400, 401, 413, 422),
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


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented_errors(400, 413, 422, 429),
    summary="Ask for a password-reset link",
)
async def request_password_reset(body: PasswordResetRequest, links: Links) -> None:
    """The same answer whether or not the address has an account; the link is sent only if it has."""
    await links.request_password_reset(body.email)


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 413, 422),
    summary="Set a new password with the token from the reset link",
)
async def reset_password(body: PasswordReset, recovery: Recovery) -> None:
    """The token works once. Every session of the user ends, on every device."""
    await recovery.reset_password(body.token, body.new_password)


@router.post(
    "/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 413, 422),
    summary="Confirm the e-mail address with the token from the verification link",
)
async def verify_email(body: EmailVerification, recovery: Recovery) -> None:
    await recovery.verify_email(body.token)


@router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented_errors(401, 429),
    summary="Send the verification link again",
)
async def resend_verification(user: CurrentUser, links: Links) -> None:
    """Rate limited per address and client; nothing is sent once the address is verified."""
    await links.resend_verification(user.user_id)


@router.post(
    "/email-change/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 409, 413, 422),
    summary="Move the account to its new e-mail address with the token from the confirmation link",
)
async def confirm_email_change(body: EmailChangeConfirmation, email_changes: EmailChanges) -> None:
    """The token works once; the new address counts as verified and the old one gets a notice. 409 when
    another account took the address since the link was sent."""
    await email_changes.confirm(body.token)
