"""The authenticated user's own account."""

from __future__ import annotations

from fastapi import APIRouter, status

from ...core.errors import documented_errors
from ...db.models import User
from ...db.repositories import UserRepository
from ...services.sessions import LiveSession
from ...services.two_factor import Enrolment, TwoFactorStatus
from ..deps import Auth, CurrentUser, EmailChanges, Session, SessionId, Sessions, TwoFactor, VerifiedUser
from . import PREFIX
from .schemas import (
    AccountDeletion,
    EmailChange,
    PasswordChange,
    PasswordConfirmation,
    RecoveryCodes,
    SessionRead,
    TwoFactorCode,
    TwoFactorConfirmation,
    TwoFactorEnrolment,
    TwoFactorStatusRead,
    UserRead,
)

router = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])


@router.get("/me", response_model=UserRead, responses=documented_errors(401), summary="The current user")
async def read_me(user: CurrentUser, session: Session) -> User:
    return await UserRepository(session).get(user.user_id)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 401, 413, 422, 429),
    summary="Change your password",
)
async def change_password(body: PasswordChange, user: CurrentUser, auth: Auth) -> None:
    """Needs the current password (a wrong one counts as a failed login). Ends every session, this one too."""
    await auth.change_password(user, body.current_password, body.new_password)


@router.get(
    "/me/sessions",
    response_model=list[SessionRead],
    responses=documented_errors(401),
    summary="Where you are logged in: your live sessions, newest first",
)
async def list_sessions(user: CurrentUser, sessions: Sessions) -> list[LiveSession]:
    return await sessions.live(user)


# 422 is listed because FastAPI documents one for any operation with a parameter, with its own
# {"detail": [...]} schema unless the route names it: this way it is the envelope.
@router.delete(
    "/me/sessions/{session_id:session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(401, 404, 422),
    summary="End one of your sessions",
)
async def end_session(session_id: SessionId, user: CurrentUser, sessions: Sessions) -> None:
    """Logs that session out at once, this one too if it is its id; 404 for an ended or unknown session."""
    await sessions.end(user, session_id)


@router.post(
    "/me/sessions/end-others",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(401),
    summary="Log out everywhere else",
)
async def end_other_sessions(user: CurrentUser, sessions: Sessions) -> None:
    """Every session but this one ends at once."""
    await sessions.end_others(user)


@router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented_errors(400, 401, 409, 413, 422, 429),
    summary="Change your e-mail address: a confirmation link goes to the new one",
)
async def change_email(body: EmailChange, user: CurrentUser, email_changes: EmailChanges) -> None:
    """Needs the password, and a code when two-factor login is on (wrong ones count as failed logins).
    The address changes when the link is followed (`/auth/email-change/confirm`); 409 when the new
    address is already yours or another account's."""
    await email_changes.request(user, body.new_email, body.password, body.code)


@router.get(
    "/me/2fa",
    response_model=TwoFactorStatusRead,
    responses=documented_errors(401),
    summary="Whether two-factor login is on, and how many recovery codes are left",
)
async def read_two_factor(user: CurrentUser, two_factor: TwoFactor) -> TwoFactorStatus:
    return await two_factor.status(user.user_id)


@router.post(
    "/me/2fa/setup",
    response_model=TwoFactorEnrolment,
    responses=documented_errors(400, 401, 403, 409, 413, 422, 429),
    summary="Start two-factor enrolment: a new authenticator secret",
)
async def start_two_factor(body: PasswordConfirmation, user: VerifiedUser, auth: Auth) -> Enrolment:
    """Needs a verified e-mail address and the password (a wrong one counts as a failed login).
    Scan the QR code (or type the secret), then confirm with `/2fa/enable`."""
    return await auth.start_two_factor(user, body.password)


@router.post(
    "/me/2fa/enable",
    response_model=RecoveryCodes,
    responses=documented_errors(400, 401, 403, 409, 413, 422, 429),
    summary="Turn two-factor login on with a code from the authenticator",
)
async def enable_two_factor(body: TwoFactorCode, user: VerifiedUser, auth: Auth) -> RecoveryCodes:
    """Returns ten single-use recovery codes: store them safely, they are not shown again."""
    return RecoveryCodes(recovery_codes=await auth.enable_two_factor(user, body.code))


@router.post(
    "/me/2fa/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 401, 409, 413, 422, 429),
    summary="Turn two-factor login off",
)
async def disable_two_factor(body: TwoFactorConfirmation, user: CurrentUser, auth: Auth) -> None:
    """Needs the password and a current code (or a recovery code); wrong ones count as failed logins."""
    await auth.disable_two_factor(user, body.password, body.code)


@router.post(
    "/me/2fa/recovery-codes",
    response_model=RecoveryCodes,
    responses=documented_errors(400, 401, 409, 413, 422, 429),
    summary="Replace the recovery codes",
)
async def regenerate_recovery_codes(body: TwoFactorConfirmation, user: CurrentUser, auth: Auth) -> RecoveryCodes:
    """Needs the password and a current code; the earlier codes stop working."""
    codes = await auth.regenerate_recovery_codes(user, body.password, body.code)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/me/delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(400, 401, 409, 413, 422, 429),
    summary="Delete your account",
)
async def delete_account(body: AccountDeletion, user: CurrentUser, auth: Auth) -> None:
    """Deletes the account and its items at once, and mails a notice. Needs the password, and a code when
    two-factor login is on (wrong ones count as failed logins). An admin's account is deleted by another
    admin (409)."""
    await auth.delete_account(user, body.password, body.code)
