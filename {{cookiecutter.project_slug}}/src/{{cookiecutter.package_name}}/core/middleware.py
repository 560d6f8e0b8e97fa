"""Pure ASGI middleware: request context (id, access log, 500s), security headers, body size limit.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: no extra task per request and no
buffering, which keeps the per-request cost at a few microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response
from .request_id import HEADER as REQUEST_ID_HEADER
from .request_id import choose_request_id, set_request_id

Headers = list[tuple[bytes, bytes]]
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()


def find_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (in lower case) in an ASGI header list."""
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None


def _with_headers(message: Message, extra: Iterable[tuple[bytes, bytes]]) -> None:
    message["headers"] = [*message.get("headers", ()), *extra]


class RequestContextMiddleware:
    """Gives each request an id, echoes it, logs one access line and turns crashes into a 500 envelope."""

    def __init__(self, app: ASGIApp, *, report_error: Callable[[BaseException], None] | None = None) -> None:
        self.app = app
        self.report_error = report_error  # e.g. an error tracker; the 500 answer does not wait for it
        # Bound once: the per-request path then skips structlog's logger lookup.
        self.access_log = structlog.get_logger("access").bind()
        self.error_log = structlog.get_logger(__name__).bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = choose_request_id(find_header(scope["headers"], _REQUEST_ID_KEY))
        set_request_id(request_id)
        echoed = ((_REQUEST_ID_KEY, request_id.encode()),)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                _with_headers(message, echoed)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as error:
            self.error_log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            if self.report_error is not None:
                self.report_error(error)
            if response_started:
                raise  # too late for an error response: let the server drop the connection
            await error_response(500, "internal_error", "Internal server error")(scope, receive, send_with_request_id)
        finally:
            route = scope.get("route")
            self.access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=getattr(route, "path_format", None),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=scope["client"][0] if scope.get("client") else None,
            )


# The API serves JSON only, so it may forbid everything. The docs page loads Swagger UI from a
# CDN and runs one inline script, so only its routes get the looser policy. A response that sets
# its own Content-Security-Policy (an HTML page) keeps it: the policies would otherwise add up.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"connect-src 'self'; frame-ancestors 'none'"
)
HSTS = b"max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Adds the security headers to every response; HSTS only when the service runs behind HTTPS (production)."""

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str], hsts: bool) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        common: Headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            common.append((b"strict-transport-security", HSTS))
        self.own_policy_headers = common
        self.api_headers = [*common, (b"content-security-policy", API_CSP)]
        self.docs_headers = [*common, (b"content-security-policy", DOCS_CSP)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.docs_headers if scope["path"] in self.docs_paths else self.api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own_policy = find_header(message.get("headers", ()), b"content-security-policy") is not None
                _with_headers(message, self.own_policy_headers if own_policy else extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLargeError(Exception):
    pass


class BodySizeLimitMiddleware:
    """Answers 413 to request bodies over `max_body_bytes`, without ever holding more than that.

    A declared Content-Length over the limit is refused before the body is read. A body without
    one (chunked, or HTTP/2) is counted while the application reads it and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = find_header(scope["headers"], b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
            else:  # the server delivers exactly Content-Length bytes: nothing left to count
                await self.app(scope, receive, send)
        elif scope["http_version"] < "2" and find_header(scope["headers"], b"transfer-encoding") is None:
            # HTTP/1.x: a request with neither header has no body (RFC 9112, section 6.3).
            await self.app(scope, receive, send)
        else:
            await self._call_counting(scope, receive, send)

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        rejected = response_started = False

        async def receive_limited() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    rejected = True
                    raise _BodyTooLargeError
            return message

        async def send_unless_rejected(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return  # the application's answer to a body it could not finish reading
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_limited, send_unless_rejected)
        except Exception:
            if not rejected:
                raise
        if rejected and not response_started:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body exceeds {self.max_body_bytes} bytes"
        await error_response(413, "payload_too_large", message)(scope, receive, send)
