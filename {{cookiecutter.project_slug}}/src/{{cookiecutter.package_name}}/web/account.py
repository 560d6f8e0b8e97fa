"""The account's security page: two-factor login (enrolment, recovery codes, switching it off),
changing the password or the e-mail address and deleting the account; and the list of the
account's sessions.

The same rules as the API: enrolment needs a verified e-mail address and the password, and
replacing the recovery codes or switching two-factor login off needs the password and a current
code, checked like a login (rate limit and lockout included); a new password needs the current one
and ends every session; changing the address and deleting the account need the password, and a
code when two-factor login is on. Ending sessions needs neither.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from pydantic import ValidationError
from starlette.responses import Response

from ..api.deps import Auth, Context, EmailChanges, Session, SessionId, Sessions, TwoFactor
from ..api.v1.schemas import (
    AccountDeletion,
    EmailChange,
    PasswordChange,
    PasswordConfirmation,
    TwoFactorCode,
    TwoFactorConfirmation,
)
from ..core.errors import http_status
from ..core.exceptions import (
    ConflictError,
    EmailNotVerifiedError,
    InvalidCodeError,
    InvalidCredentialsError,
    RateLimitedError,
    ServiceError,
)
from ..db.models import Role, User
from ..db.repositories import UserRepository
from .rendering import field_errors, redirect, render
from .routes import FormText
from .session import SignedInUser, check_csrf, end_session, session_principal

router = APIRouter(prefix="/account", dependencies=[Depends(session_principal)])

# The security page's forms; a refused one shows its problems beside itself, not in the others.
SecurityForm = Literal["two-factor", "password", "email", "delete"]
# Each form posts to its own section, where a refusal then opens; a success's notice is at the top.
TOP_OF_THE_PAGE = "#content"


async def signed_in_account(user: SignedInUser, db: Session) -> User:
    return await UserRepository(db).get(user.user_id)


SignedInAccount = Annotated[User, Depends(signed_in_account)]


async def verified_account(account: SignedInAccount) -> User:
    if account.email_verified_at is None:
        raise EmailNotVerifiedError
    return account


VerifiedAccount = Annotated[User, Depends(verified_account)]


def security_page(
    request: Request,
    account: User,
    *,
    form: SecurityForm | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    new_email: str = "",
    recovery_codes_left: int | None = None,
) -> Response:
    values = {
        "email": account.email,
        "new_email": new_email,
        "email_verified": account.email_verified_at is not None,
        "enabled": account.two_factor_enabled,
        "recovery_codes_left": recovery_codes_left,
        "is_admin": account.role == Role.ADMIN,
        "form": form,
        "error": error,
        "errors": errors or {},
    }
    return render(request, "two_factor.html", values, status_code)


@router.get("/two-factor")
async def two_factor_page(request: Request, account: SignedInAccount, two_factor: TwoFactor) -> Response:
    status = await two_factor.status(account.id)
    return security_page(request, account, recovery_codes_left=status.recovery_codes_left)


@router.post("/two-factor/setup")
async def start_enrolment(
    request: Request, account: VerifiedAccount, auth: Auth, password: FormText = "", csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = PasswordConfirmation(password=password)
        enrolment = await auth.start_two_factor(account, body.password)
    except (ValidationError, ServiceError) as error:  # a wrong password, or already enabled in another tab
        return refused(request, account, "two-factor", error)
    # segno's own markup (paths drawn from the otpauth URI, no text of it): trusted, so not escaped.
    qr_code = Markup(enrolment.qr_code_svg)  # noqa: S704  # nosec B704
    return render(request, "two_factor_enrol.html", {"qr_code": qr_code, "secret": enrolment.secret})


@router.post("/two-factor/enable")
async def enable(
    request: Request, account: VerifiedAccount, auth: Auth, code: FormText = "", csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    try:
        codes = await auth.enable_two_factor(account, TwoFactorCode(code=code).code)
    except ValidationError as error:
        return render(request, "two_factor_enrol.html", {"errors": field_errors(error)}, 422)
    except (InvalidCodeError, RateLimitedError) as error:
        return render(request, "two_factor_enrol.html", {"errors": {"code": error.message}}, http_status(type(error)))
    except ConflictError as error:  # already enabled, or no enrolment started
        return security_page(request, account, form="two-factor", error=error.message, status_code=409)
    return render(request, "recovery_codes.html", {"codes": codes})


@router.post("/two-factor/recovery-codes")
async def regenerate_recovery_codes(
    request: Request,
    user: SignedInUser,
    account: SignedInAccount,
    auth: Auth,
    password: FormText = "",
    code: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = TwoFactorConfirmation(password=password, code=code)
        codes = await auth.regenerate_recovery_codes(user, body.password, body.code)
    except (ValidationError, ServiceError) as error:
        return refused(request, account, "two-factor", error)
    return render(request, "recovery_codes.html", {"codes": codes})


@router.post("/two-factor/disable")
async def disable(
    request: Request,
    user: SignedInUser,
    account: SignedInAccount,
    auth: Auth,
    password: FormText = "",
    code: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = TwoFactorConfirmation(password=password, code=code)
        await auth.disable_two_factor(user, body.password, body.code)
    except (ValidationError, ServiceError) as error:
        return refused(request, account, "two-factor", error)
    return redirect("/account/two-factor", done="two-factor-off", fragment=TOP_OF_THE_PAGE)


@router.post("/password")
async def change_password(
    request: Request,
    context: Context,
    user: SignedInUser,
    account: SignedInAccount,
    auth: Auth,
    current_password: FormText = "",
    new_password: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    """Every session ends, this one too: the user logs in again with the new password."""
    check_csrf(request, csrf_token)
    try:
        body = PasswordChange(current_password=current_password, new_password=new_password)
        await auth.change_password(user, body.current_password, body.new_password)
    except (ValidationError, ServiceError) as error:
        return refused(request, account, "password", error)
    response = redirect("/login", done="password-changed")
    end_session(response, context)
    return response


@router.post("/email")
async def change_email(
    request: Request,
    user: SignedInUser,
    account: SignedInAccount,
    email_changes: EmailChanges,
    new_email: FormText = "",
    password: FormText = "",
    code: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = EmailChange(new_email=new_email.strip(), password=password, code=code or None)
        await email_changes.request(user, body.new_email, body.password, body.code)
    except (ValidationError, ServiceError) as error:  # also: the address is taken, or already this one
        return refused(request, account, "email", error, new_email=new_email)
    return redirect("/account/two-factor", done="email-change-sent", fragment=TOP_OF_THE_PAGE)


@router.post("/delete")
async def delete_account(
    request: Request,
    context: Context,
    user: SignedInUser,
    account: SignedInAccount,
    auth: Auth,
    password: FormText = "",
    code: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = AccountDeletion(password=password, code=code or None)
        await auth.delete_account(user, body.password, body.code)
    except (ValidationError, ServiceError) as error:
        return refused(request, account, "delete", error)
    response = redirect("/login", done="account-deleted")
    end_session(response, context)
    return response


@router.get("/sessions")
async def sessions_page(request: Request, user: SignedInUser, sessions: Sessions) -> Response:
    return render(request, "sessions.html", {"sessions": await sessions.live(user)})


@router.post("/sessions/{session_id:session_id}/end")
async def log_out_session(
    request: Request, session_id: SessionId, user: SignedInUser, sessions: Sessions, csrf_token: FormText = ""
) -> Response:
    """Another session of the user (the page offers no button for this one: that is "Log out")."""
    check_csrf(request, csrf_token)
    await sessions.end(user, session_id)  # another user's or an ended session: the 404 page
    return redirect("/account/sessions", done="session-ended")


@router.post("/sessions/end-others")
async def log_out_other_sessions(
    request: Request, user: SignedInUser, sessions: Sessions, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    await sessions.end_others(user)
    return redirect("/account/sessions", done="other-sessions-ended")


def refused(
    request: Request, account: User, form: SecurityForm, error: ValidationError | ServiceError, new_email: str = ""
) -> Response:
    """The page again with the reason: a field's problem, a wrong password or code (401), too many tries
    (429), two-factor login already on or off, an address in use or an admin deleting their own account
    (409). A wrong password and an address in use are shown at their field."""
    if isinstance(error, ValidationError):
        errors = field_errors(error)
        return security_page(request, account, form=form, errors=errors, status_code=422, new_email=new_email)
    status_code = http_status(type(error))
    field = refused_field(form, error)
    if field is not None:
        errors = {field: error.message}
        return security_page(request, account, form=form, errors=errors, status_code=status_code, new_email=new_email)
    return security_page(request, account, form=form, error=error.message, status_code=status_code, new_email=new_email)


def refused_field(form: SecurityForm, error: ServiceError) -> str | None:
    """The field a refusal is about: the password (with two-factor login on, "password or code"), or
    the new address; None for the rest, which the form's summary shows alone."""
    if isinstance(error, InvalidCredentialsError):
        return "current_password" if form == "password" else "password"
    if isinstance(error, ConflictError) and form == "email":
        return "new_email"
    return None
