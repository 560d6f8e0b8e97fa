"""The pages behind the links in e-mails, and asking for them: a forgotten password, the reset,
confirming the e-mail address and sending that link again, and confirming a new address.

They work through the API's services and limits: a reset link is asked for with the same neutral
answer whatever the address, within the same per-address and per-client e-mail budget, and is
sent after the response. Opening a link only shows a form (mail scanners follow links): nothing
changes until the form is posted.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from ..api.deps import EmailChanges, Links, Recovery, Session
from ..api.v1.schemas import EmailChangeConfirmation, EmailVerification, PasswordReset, PasswordResetRequest
from ..core.exceptions import ConflictError, InvalidTokenError, RateLimitedError
from ..db.models import TokenPurpose
from ..db.repositories import AccountTokenRepository
from .rendering import error_page, field_errors, redirect, render
from .routes import FormText
from .session import SessionPrincipal, SignedInUser, check_csrf, session_principal

router = APIRouter(dependencies=[Depends(session_principal)])


async def link_page(request: Request, db: AsyncSession, token: str, purpose: TokenPurpose, template: str) -> Response:
    """The form behind a link; a dead link says so before anything is typed (looking does not spend it).

    Any text is looked up (by its hash), so a link that a mail program mangled or lengthened is
    "invalid" like a made-up one, never a page not found."""
    if await AccountTokenRepository(db).user_id_of(token, purpose) is None:
        return render(request, template, {"link_invalid": True}, 400)
    return render(request, template, {"token": token})


@router.get("/forgot-password")
async def forgot_password_page(request: Request) -> Response:
    return render(request, "forgot_password.html", {"email": ""})


@router.post("/forgot-password")
async def forgot_password(request: Request, links: Links, email: FormText = "", csrf_token: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        body = PasswordResetRequest(email=email.strip())
        await links.request_password_reset(body.email)
    except ValidationError as error:
        return render(request, "forgot_password.html", {"email": email, "errors": field_errors(error)}, 422)
    except RateLimitedError as error:
        return render(request, "forgot_password.html", {"email": email, "errors": {"email": error.message}}, 429)
    return redirect("/forgot-password", done="reset-link-sent")


@router.get("/reset-password")
async def reset_password_page(request: Request, db: Session, token: str = "") -> Response:
    return await link_page(request, db, token, TokenPurpose.PASSWORD_RESET, "reset_password.html")


@router.post("/reset-password")
async def reset_password(
    request: Request, recovery: Recovery, token: FormText = "", new_password: FormText = "", csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = PasswordReset(token=token, new_password=new_password)
        await recovery.reset_password(body.token, body.new_password)
    except ValidationError as error:
        return render(request, "reset_password.html", {"token": token, "errors": field_errors(error)}, 422)
    except InvalidTokenError:
        return render(request, "reset_password.html", {"link_invalid": True}, 400)
    return redirect("/login", done="password-reset")


@router.get("/verify-email")
async def verify_email_page(request: Request, db: Session, token: str = "") -> Response:
    return await link_page(request, db, token, TokenPurpose.EMAIL_VERIFICATION, "verify_email.html")


@router.post("/verify-email")
async def verify_email(
    request: Request, recovery: Recovery, principal: SessionPrincipal, token: FormText = "", csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    try:
        await recovery.verify_email(EmailVerification(token=token).token)
    except (ValidationError, InvalidTokenError):
        return render(request, "verify_email.html", {"link_invalid": True}, 400)
    return redirect("/items" if principal is not None else "/login", done="email-verified")


@router.post("/verify-email/resend")
async def resend_verification(
    request: Request, user: SignedInUser, links: Links, csrf_token: FormText = ""
) -> Response:
    """As the API's resend: rate limited per address and client; nothing is sent once verified."""
    check_csrf(request, csrf_token)
    try:
        await links.resend_verification(user.user_id)
    except RateLimitedError as error:
        return error_page(request, HTTPStatus.TOO_MANY_REQUESTS, error.message)
    return redirect("/items", done="verification-sent")


@router.get("/confirm-email-change")
async def confirm_email_change_page(request: Request, db: Session, token: str = "") -> Response:
    return await link_page(request, db, token, TokenPurpose.EMAIL_CHANGE, "confirm_email_change.html")


@router.post("/confirm-email-change")
async def confirm_email_change(
    request: Request,
    email_changes: EmailChanges,
    principal: SessionPrincipal,
    token: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        await email_changes.confirm(EmailChangeConfirmation(token=token).token)
    except (ValidationError, InvalidTokenError):
        return render(request, "confirm_email_change.html", {"link_invalid": True}, 400)
    except ConflictError as error:  # another account took the address since the link was sent
        return render(request, "confirm_email_change.html", {"token": token, "error": error.message}, 409)
    return redirect("/items" if principal is not None else "/login", done="email-changed")
