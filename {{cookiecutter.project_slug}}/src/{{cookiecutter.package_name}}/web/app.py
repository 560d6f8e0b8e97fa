"""The UI as its own small application, mounted by the service at MOUNT_PATH.

Its own exception handlers answer with HTML pages (or a redirect to the login page) where the
API answers with the JSON error envelope; everything else (middleware, services, database) is shared.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..context import AppContext
from ..core.errors import RETRY_AFTER_UNAVAILABLE, http_error_headers, raise_unless_unavailable
from ..core.exceptions import EmailNotVerifiedError, NotFoundError, PermissionDeniedError
from . import account, admin, recovery
from .rendering import HERE, error_page, redirect
from .routes import router
from .session import MOUNT_PATH, SESSION_COOKIE, CsrfError, LoginRequiredError, end_session

__all__ = ["MOUNT_PATH", "create_web_app"]


def create_web_app(context: AppContext) -> FastAPI:
    web = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        exception_handlers={
            LoginRequiredError: _login_required,
            CsrfError: _csrf_failed,
            NotFoundError: _not_found,
            EmailNotVerifiedError: _not_verified,
            PermissionDeniedError: _forbidden,
            StarletteHTTPException: _http_error,
            RequestValidationError: _not_found,  # a malformed address, e.g. /items/abc/edit
            SQLAlchemyError: _unavailable,
            OSError: _unavailable,
            Exception: _server_error,
        },
    )
    web.state.context = context
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    web.include_router(router)
    web.include_router(recovery.router)
    web.include_router(account.router)
    web.include_router(admin.router)
    return web


async def _login_required(request: Request, exc: Exception) -> Response:
    if SESSION_COOKIE not in request.cookies:
        return redirect("/login")
    # The session expired or was ended elsewhere: say so, since a form it carried was not saved.
    response = redirect("/login", done="session-expired" if request.method in ("GET", "HEAD") else "not-saved")
    end_session(response, request.app.state.context)
    return response


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    return error_page(request, HTTPStatus.FORBIDDEN, CsrfError.message)


async def _not_verified(request: Request, exc: Exception) -> Response:
    return error_page(request, HTTPStatus.FORBIDDEN, EmailNotVerifiedError.message)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return error_page(request, HTTPStatus.FORBIDDEN, "This page is for administrators only.")


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_page(request, HTTPStatus.NOT_FOUND, "There is no such page, or it belongs to someone else.")


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    status = HTTPStatus(exc.status_code)
    return error_page(request, status, status.description, http_error_headers(request, exc))


async def _unavailable(request: Request, exc: Exception) -> Response:
    """A page that asks to try again when a dependency cannot be reached; other failures stay 500s."""
    raise_unless_unavailable(request, exc)
    message = "The service is briefly unavailable. Please try again in a moment."
    return error_page(request, HTTPStatus.SERVICE_UNAVAILABLE, message, {"Retry-After": RETRY_AFTER_UNAVAILABLE})


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette's ServerErrorMiddleware sends this page, then re-raises: the request-context middleware
    # logs and reports the error once, as for the API, and raises no further once the page is sent.
    message = "Something went wrong on our side. Please try again in a moment."
    return error_page(request, HTTPStatus.INTERNAL_SERVER_ERROR, message)
