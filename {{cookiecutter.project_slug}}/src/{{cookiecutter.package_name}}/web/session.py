"""The browser session and CSRF protection.

The session cookie carries the service's own access token (HttpOnly, SameSite=Lax, Secure in
production, scoped to the UI's path), so the UI authenticates exactly like the API: a session
ends when the token expires (ACCESS_TOKEN_TTL_SECONDS), at logout, or when an admin or a password
change revokes it. Forms are protected by the double-submit
pattern: a random token in a SameSite=Lax cookie must match the hidden form field. And a form that
the browser says another site sent (`Sec-Fetch-Site`) is refused, matching token or not: a sibling
subdomain can set the cookie on this site's domain, and so choose the token it posts.

Between the password and the code of a two-factor login, the second step's token waits in a
cookie of its own (HttpOnly, SameSite=Strict, as short-lived as the token), not in a hidden
field: it never appears in the page's markup, so a saved or restored page cannot carry it, and
the code page can be reloaded without losing the step.
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from typing import Annotated, Literal

from fastapi import Depends, Request, Response

from ..api.deps import Context, Session
from ..context import AppContext
from ..core.exceptions import AuthenticationError, PermissionDeniedError
from ..db.models import Role
from ..services.auth import Principal, authenticate

MOUNT_PATH = "/ui"  # the UI's URL prefix, also the path its cookies are limited to
SESSION_COOKIE = "session"
LOGIN_STEP_COOKIE = "login_step"
CSRF_COOKIE = "csrf"
CSRF_FIELD = "csrf_token"


class LoginRequiredError(Exception):
    """Raised by pages that need a user; the UI answers with a redirect to the login page."""


class CsrfError(Exception):
    message = "This form has expired or did not come from this site. Reload the page and try again."


async def session_principal(request: Request, context: Context, db: Session) -> Principal | None:
    """The signed-in user (a live login session), or None; kept on `request.state` for the templates."""
    principal = None
    if token := request.cookies.get(SESSION_COOKIE):
        with suppress(AuthenticationError):  # expired or revoked: the page is shown signed out
            principal = await authenticate(db, context.tokens, token)
    request.state.principal = principal
    return principal


SessionPrincipal = Annotated[Principal | None, Depends(session_principal)]


async def signed_in_user(principal: SessionPrincipal) -> Principal:
    if principal is None:
        raise LoginRequiredError
    return principal


SignedInUser = Annotated[Principal, Depends(signed_in_user)]


async def signed_in_admin(user: SignedInUser) -> Principal:
    """As the API's `Admin`: a member gets 403 (an error page), a visitor the login page."""
    if user.role != Role.ADMIN:
        raise PermissionDeniedError
    return user


SignedInAdmin = Annotated[Principal, Depends(signed_in_admin)]


def start_session(response: Response, context: AppContext, access_token: str) -> None:
    # No Max-Age: the token inside expires by itself. A cookie that expired with it would vanish, and
    # the next page could not say that the session ended (or that the form just sent was not saved).
    _set_cookie(response, context, SESSION_COOKIE, access_token, max_age=None, samesite="lax")
    # A new form token for the new session: one known before the login (planted by a sibling
    # subdomain, or read on a shared computer) does not carry over into it.
    _set_cookie(response, context, CSRF_COOKIE, secrets.token_urlsafe(32), max_age=None, samesite="lax")


def end_session(response: Response, context: AppContext) -> None:
    _delete_cookie(response, context, SESSION_COOKIE, samesite="lax")


def start_login_step(response: Response, context: AppContext, mfa_token: str) -> None:
    max_age = context.settings.mfa_token_ttl_seconds
    _set_cookie(response, context, LOGIN_STEP_COOKIE, mfa_token, max_age=max_age, samesite="strict")


def login_step_token(request: Request) -> str:
    """The second step's token, or "" (no step has it) when it has expired or was never set."""
    return request.cookies.get(LOGIN_STEP_COOKIE, "")


def end_login_step(response: Response, context: AppContext) -> None:
    _delete_cookie(response, context, LOGIN_STEP_COOKIE, samesite="strict")


def issue_csrf_token(request: Request) -> str:
    """The browser's CSRF token, or a new one that `remember_csrf_token` sets as a cookie."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_token", None)
    if not token:
        token = request.state.new_csrf_token = secrets.token_urlsafe(32)
    return str(token)


def remember_csrf_token(request: Request, response: Response, context: AppContext) -> None:
    # Lax, not Strict: a link from another site (a mail, a chat) must find the token, or its page
    # would set a new one and fail every form open in another tab. Lax keeps it off cross-site POSTs.
    if token := getattr(request.state, "new_csrf_token", None):
        _set_cookie(response, context, CSRF_COOKIE, token, max_age=None, samesite="lax")


def check_csrf(request: Request, submitted: str) -> None:
    # Browsers have sent Sec-Fetch-Site since 2023; "none" is a request the user made (a reload).
    # Without the header (an older browser), the token alone decides: comparing Origin with Host
    # instead would refuse every form behind a proxy that rewrites Host.
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        raise CsrfError
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfError


def _set_cookie(
    response: Response,
    context: AppContext,
    name: str,
    value: str,
    *,
    max_age: int | None,
    samesite: Literal["lax", "strict"],
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=MOUNT_PATH,
        secure=context.settings.is_production,
        httponly=True,
        samesite=samesite,
    )


def _delete_cookie(response: Response, context: AppContext, name: str, *, samesite: Literal["lax", "strict"]) -> None:
    response.delete_cookie(
        name, path=MOUNT_PATH, secure=context.settings.is_production, httponly=True, samesite=samesite
    )
