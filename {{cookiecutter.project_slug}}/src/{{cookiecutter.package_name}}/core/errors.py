"""Each error's status code, and the one JSON error envelope every error response uses.

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
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from .availability import is_unavailable
from .exceptions import (
    AuthenticationError,
    ConflictError,
    DatabaseUnavailableError,
    DependencyUnavailableError,
    IdempotencyKeyReusedError,
    InvalidAccessTokenError,
    InvalidCodeError,
    InvalidTokenError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceError,
    VersionMismatchError,
)
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


# The status each kind of service error answers with (the nearest listed base class decides).
HTTP_STATUS: dict[type[ServiceError], int] = {
    IdempotencyKeyReusedError: 422,
    InvalidCodeError: 400,
    InvalidTokenError: 400,
    NotFoundError: 404,
    ConflictError: 409,
    VersionMismatchError: 412,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    RateLimitedError: 429,
    DependencyUnavailableError: 503,
}
RETRY_AFTER_UNAVAILABLE = "5"  # seconds: long enough for a restarting dependency, short for a client
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated", 403: "forbidden"}


def http_status(error: type[ServiceError]) -> int:
    """The status of the error class's nearest listed class (500 for an unlisted one)."""
    return next((HTTP_STATUS[cls] for cls in error.__mro__ if cls in HTTP_STATUS), 500)


async def _service_error(_: Request, exc: ServiceError) -> Response:
    return error_response(http_status(type(exc)), exc.code, exc.message, headers=_headers_for(exc))


def _headers_for(exc: ServiceError) -> dict[str, str]:
    if isinstance(exc, InvalidAccessTokenError):
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(exc.retry_after_seconds)}
    if isinstance(exc, DependencyUnavailableError):
        return {"Retry-After": RETRY_AFTER_UNAVAILABLE}
    return {}


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"))
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, headers=http_error_headers(request, exc))


def http_error_headers(request: Request, exc: StarletteHTTPException) -> Mapping[str, str] | None:
    """The exception's headers, with a 405's Allow naming every method of the path."""
    if exc.status_code != HTTPStatus.METHOD_NOT_ALLOWED:
        return exc.headers
    allowed = _allowed_methods(request)
    if not allowed:  # a 405 from inside a mount (static files): no route names its methods, its own Allow stands
        return exc.headers
    return {**(exc.headers or {}), "Allow": ", ".join(allowed)}


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


async def _dependency_error(request: Request, exc: Exception) -> Response:
    """503 for a dependency that cannot be reached; anything else is a bug and stays a 500."""
    raise_unless_unavailable(request, exc)
    error = DatabaseUnavailableError() if isinstance(exc, SQLAlchemyError) else DependencyUnavailableError()
    return await _service_error(request, error)


def raise_unless_unavailable(request: Request, exc: Exception) -> None:
    """Re-raise a failure that is a bug; log one that means a dependency cannot be reached."""
    if not is_unavailable(exc):
        raise exc  # the request-context middleware answers 500{% if cookiecutter.use_playwright %} (the UI its own page){% endif %}, logs it and reports it
    log.warning("dependency_unavailable", method=request.method, path=request.url.path, error=repr(exc))


# Passed to FastAPI(exception_handlers=...); unhandled exceptions become 500s in the middleware.
EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    ServiceError: _service_error,
    StarletteHTTPException: _http_error,
    RequestValidationError: _validation_error,
    # Examined by _dependency_error: only failures to reach a dependency become 503s.
    SQLAlchemyError: _dependency_error,
    OSError: _dependency_error,
}


# Python 3.13 renamed 413 and 422 to RFC 9110's "Content Too Large" and "Unprocessable Content": one
# name on every version keeps the exported OpenAPI document (docs/openapi.json) the same whichever
# Python exports it.
_PHRASES = {413: "Content Too Large", 422: "Unprocessable Content"}


def _phrase(status: int) -> str:
    return _PHRASES.get(status, HTTPStatus(status).phrase)


# Every 429 and 503 says how long to wait (see _headers_for): documented, so a generated client reads it.
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 1}}
}
_ERROR_HEADERS = {429: _RETRY_AFTER, 503: _RETRY_AFTER}


def documented_errors(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the envelope, e.g. `responses=documented_errors(401, 404)`."""
    return {status: _documented_error(status) for status in sorted(status_codes)}


def _documented_error(status: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": ErrorEnvelope, "description": _phrase(status)}
    if status in _ERROR_HEADERS:
        entry["headers"] = _ERROR_HEADERS[status]
    return entry
