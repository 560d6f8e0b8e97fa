"""The exception hierarchy and the one JSON error envelope every error response uses.

`{"error": {"code": ..., "message": ..., "request_id": ..., "details": [...]}}` — for errors the
service raises, for framework errors (404, 405, 422) and, through the request-context
middleware, for unhandled exceptions (500), whose message never reveals internals.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from .request_id import current_request_id

log = structlog.get_logger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorEnvelope(BaseModel):
    """Documents the envelope in OpenAPI."""

    error: ErrorBody


class AppError(Exception):
    """Base of every error the service raises on purpose; subclasses set status and code."""

    status_code: int = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal_error"
    message: str = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = dict(headers or {})


class NotFoundError(AppError):
    status_code = HTTPStatus.NOT_FOUND
    code = "not_found"
    message = "Resource not found"


class ConflictError(AppError):
    status_code = HTTPStatus.CONFLICT
    code = "conflict"
    message = "Resource already exists"


class AuthenticationError(AppError):
    status_code = HTTPStatus.UNAUTHORIZED
    code = "not_authenticated"
    message = "Missing, invalid or expired credentials"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentialsError(AuthenticationError):
    code = "invalid_credentials"
    message = "Incorrect email or password"


class TooManyRequestsError(AppError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS
    code = "too_many_requests"
    message = "Too many attempts: try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_seconds))})


class ServiceUnavailableError(AppError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "service_unavailable"
    message = "A dependency of the service is unavailable: try again shortly"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "database_unavailable"
    message = "The database is unavailable: try again shortly"


class AccountLockedError(TooManyRequestsError):
    code = "account_locked"
    message = "Too many failed logins: the account is temporarily locked"


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The envelope as a response; also used by the pure ASGI middleware (413, 500)."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": current_request_id()}
    if details is not None:
        error["details"] = list(details)
    # int(): an HTTPStatus member would reach the access log as <HTTPStatus.NOT_FOUND: 404>.
    return Response(orjson.dumps({"error": error}), int(status_code), headers, media_type="application/json")


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated", 403: "forbidden"}


async def _app_error(_: Request, exc: AppError) -> Response:
    return error_response(exc.status_code, exc.code, exc.message, headers=exc.headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"))
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = exc.headers
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return error_response(exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    # Each method of a path is a route of its own, so the router's Allow names only the first.
    # iter_route_contexts also walks the routers the app includes, with their prefixes applied.
    allowed: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= route.methods
    return sorted(allowed)


async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
    # Only location, message and type: the rejected input may be a password.
    details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return error_response(422, "validation_error", "The request is invalid", details=details)


async def _unavailable(request: Request, exc: Exception) -> Response:
    """503 for a dependency that cannot be reached; anything else stays a bug (500)."""
    if isinstance(exc, DBAPIError) and not _is_connection_failure(exc):
        raise exc  # a bad query, not an outage: the request-context middleware answers 500 and logs it
    error = (
        DatabaseUnavailableError()
        if isinstance(exc, DBAPIError | SQLAlchemyTimeoutError)
        else ServiceUnavailableError()
    )
    log.warning("dependency_unavailable", method=request.method, path=request.url.path, error=repr(exc))
    return error_response(error.status_code, error.code, error.message, headers={"Retry-After": "5"})


def _is_connection_failure(exc: DBAPIError) -> bool:
    # No statement: it failed while connecting (e.g. "not yet accepting connections" during recovery).
    return exc.statement is None or exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


# Passed to FastAPI(exception_handlers=...); unhandled exceptions become 500s in the middleware.
EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    AppError: _app_error,
    StarletteHTTPException: _http_error,
    RequestValidationError: _validation_error,
    # Refused or reset connections and connect timeouts surface as OSError/TimeoutError, a full
    # pool as SQLAlchemy's TimeoutError, a connection lost mid-query as an invalidated DBAPIError.
    DBAPIError: _unavailable,
    SQLAlchemyTimeoutError: _unavailable,
    OSError: _unavailable,
    TimeoutError: _unavailable,
}


def documented_errors(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the envelope, e.g. `responses=documented_errors(401, 404)`."""
    return {
        status: {"model": ErrorEnvelope, "description": HTTPStatus(status).phrase} for status in sorted(status_codes)
    }
