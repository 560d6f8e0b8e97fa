"""Rendering pages: Jinja2 templates (autoescaped), the CSRF token in every form, strict headers."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from ..context import AppContext
from ..db.models import Role
from .session import CSRF_FIELD, MOUNT_PATH, issue_csrf_token, remember_csrf_token

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Pages load one stylesheet from this site and run no scripts at all; a page sets its own policy
# and the security-headers middleware keeps it.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"content-security-policy": PAGE_CSP, "cache-control": "no-store"}

# Shown after a redirect (`?done=created`): fixed texts, so the query string cannot inject any.
NOTICES = {
    "signed-up": "Your account is ready: we sent you a link to confirm your e-mail address. Log in to continue.",
    "logged-out": "You are logged out.",
    "session-expired": "Your session has ended: log in again.",
    "not-saved": "Your session ended before that form was sent, so nothing was saved: log in and try again.",
    "reset-link-sent": "If an account uses that address, a link to choose a new password is on its way.",
    "password-reset": "Your password is changed and every session has ended. Log in with the new password.",
    "email-verified": "Your e-mail address is confirmed.",
    "verification-sent": "A new confirmation link is on its way to your e-mail address.",
    "two-factor-off": "Two-factor login is off.",
    "email-change-sent": "We sent a link to the new address: your address changes when you open it.",
    "email-changed": "Your account uses its new e-mail address from now on: log in with it.",
    "session-ended": "That session is logged out.",
    "other-sessions-ended": "Every other session is logged out.",
    "account-deleted": "Your account and everything in it are deleted.",
    "password-changed": "Your password is changed, and every session ended: log in with the new one.",
    "created": "Item created.",
    "updated": "Item saved.",
    "deleted": "Item deleted.",
    "deactivated": "Account deactivated: its sessions have ended.",
    "reactivated": "Account reactivated.",
    "user-deleted": "Account deleted with everything it owned; its owner is told by e-mail.",
    "two-factor-reset": "Two-factor login reset: the account's sessions have ended, and its owner is told by e-mail.",
    "new-password-required": (
        "The account's password no longer works and its sessions have ended; its owner is told by e-mail"
        " to set a new one."
    ),
}


def context_of(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def render(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    context = context_of(request)
    principal = getattr(request.state, "principal", None)
    page_values = {
        "ui": MOUNT_PATH,
        "csrf_field": CSRF_FIELD,
        "csrf_token": issue_csrf_token(request),
        "signed_in": principal is not None,
        "is_admin": principal is not None and principal.role == Role.ADMIN,  # shows the admin link
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **(values or {}),
    }
    response = templates.TemplateResponse(
        request, template, page_values, status_code, headers={**PAGE_HEADERS, **(headers or {})}
    )
    remember_csrf_token(request, response, context)
    return response


def error_page(
    request: Request, status: HTTPStatus, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    values = {"status": status.value, "heading": status.phrase, "message": message}
    return render(request, "error.html", values, status, headers)


def redirect(path: str, done: str | None = None, fragment: str = "") -> RedirectResponse:
    """303 See Other after a form post, so reloading the next page does not post again. Without a
    `fragment` the browser keeps the one the form posted to."""
    query = f"?done={done}" if done else ""
    return RedirectResponse(f"{MOUNT_PATH}{path}{query}{fragment}", status_code=303)


def field_errors(error: ValidationError) -> dict[str, str]:
    """The first problem of each field, worded for people (pydantic's messages, capitalised)."""
    problems: dict[str, str] = {}
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "form"
        message = problem["msg"].removeprefix("Value error, ")
        problems.setdefault(field, message[:1].upper() + message[1:])
    return problems
