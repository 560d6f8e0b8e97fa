"""Pure ASGI middleware: access log and 500s, security headers, body size limit.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: they wrap `receive` and `send` (to count a
body as it streams in, to add headers as a response starts), which its request/response
interface cannot do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response


class RequestContextMiddleware:
    """Logs one access line per request as its response completes, and turns crashes into the 500 envelope.

    Added inside asgi-correlation-id's middleware, so both carry the request's id.
    """

    def __init__(self, app: ASGIApp, *, report_error: Callable[[BaseException], None] | None = None) -> None:
        self.app = app
        self.report_error = report_error  # e.g. an error tracker; the 500 answer does not wait for it
        self.access_log = structlog.get_logger("access")
        self.error_log = structlog.get_logger(__name__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = ResponseWatch(scope, send, on_complete=self.log_access)
        try:
            await self.app(scope, receive, watch.send)
        except Exception as error:
            self.error_log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            if self.report_error is not None:
                self.report_error(error)
            if watch.completed:
                return  # the response went out whole ({% if cookiecutter.use_playwright %}the UI's error page; {% endif %}a failed background task)
            if watch.response_started:
                raise  # too late for an error response: let the server drop the connection
            await error_response(500, "internal_error", "Internal server error")(scope, receive, watch.send)
        finally:
            watch.complete()  # if the response never did: the client went away, or the server dropped it

    def log_access(self, scope: Scope, outcome: RequestOutcome) -> None:
        self.access_log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            route=outcome.route,
            status=outcome.status,
            duration_ms=round(outcome.seconds * 1000, 2),
            client=scope["client"][0] if scope.get("client") else None,
        )


@dataclass(frozen=True)
class RequestOutcome:
    """What the access log and the metrics record of a request."""

    route: str | None  # the template of the route that answered (`route_template`)
    status: int
    seconds: float


class ResponseWatch:
    """Follows one request's response through `send`, for the access log and the metrics alike.

    `on_complete` runs once: as the response completes, or at `complete()` when the application
    ended without completing it (the client went away, or it crashed before answering: a 500).
    """

    def __init__(self, scope: Scope, send: Send, *, on_complete: Callable[[Scope, RequestOutcome], None]) -> None:
        self.scope = scope
        self.root_path = scope.get("root_path", "")  # as the request arrived (a mount extends it)
        self.downstream = send
        self.on_complete = on_complete
        self.started = time.perf_counter()
        self.status = 500  # what the client gets when the application fails before answering
        self.response_started = self.completed = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.response_started = message["status"], True
        await self.downstream(message)
        if is_last_message(message):
            self.complete()

    def complete(self) -> None:
        if self.completed:
            return
        self.completed = True
        route = route_template(self.scope, self.root_path)
        self.on_complete(self.scope, RequestOutcome(route, self.status, time.perf_counter() - self.started))


def is_last_message(message: Message) -> bool:
    """Whether `message` completes the response. The client has it all then, and what the
    application does after it (background tasks, such as sending mail) is not the request's time."""
    return message["type"] == "http.response.body" and not message.get("more_body", False)


def route_template(scope: Scope, root_path: str) -> str | None:
    """The declared path of the route that answered, e.g. /api/v1/items/{item_id:int}; None if none did.

    `root_path` is the scope's as the request arrived. A mounted application's routes are relative
    to where it is mounted, which the router adds to the scope's root_path{% if cookiecutter.use_playwright %} (the UI's /login is
    /ui/login){% endif %}. FastAPI's router records API routes only, and without a prefix given to
    include_router: routers declare their whole prefix.
    """
    path: str | None = getattr(scope.get("route"), "path", None)
    if path is None:
        return None
    mount_path: str = scope.get("root_path", "").removeprefix(root_path)
    return mount_path + path


# The API serves JSON only, so it may forbid everything. The docs page loads Swagger UI from a
# CDN and runs one inline script, so only its routes get the looser policy. A response that sets
# its own Content-Security-Policy (an HTML page) keeps it: the policies would otherwise add up.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Adds the security headers to every response; HSTS only when the service runs behind HTTPS (production).

    Answers under `api_prefix` carry account data, tokens and secrets: no cache, in a browser or
    a proxy, may keep them (`Cache-Control: no-store`, as RFC 6749 asks of token answers).
    """

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str], api_prefix: str, hsts: bool) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        self.api_prefix = api_prefix
        common = [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("cross-origin-opener-policy", "same-origin"),
        ]
        if hsts:
            common.append(("strict-transport-security", HSTS))
        self.own_policy_headers = common
        self.api_headers = [*common, ("content-security-policy", API_CSP)]
        self.private_api_headers = [*self.api_headers, ("cache-control", "no-store")]
        self.docs_headers = [*common, ("content-security-policy", DOCS_CSP)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self.docs_paths:
            extra = self.docs_headers
        elif path.startswith(self.api_prefix):
            extra = self.private_api_headers
        else:
            extra = self.api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                own_policy = "content-security-policy" in headers
                for name, value in self.own_policy_headers if own_policy else extra:
                    headers.append(name, value)
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
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send, headers=self._closing_if_body_withheld(headers))
            else:  # the server delivers exactly Content-Length bytes: nothing left to count
                await self.app(scope, receive, send)
        elif scope["http_version"] < "2" and "transfer-encoding" not in headers:
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

    @staticmethod
    def _closing_if_body_withheld(headers: Headers) -> dict[str, str]:
        # A client waiting on `Expect: 100-continue` never sends the refused body, and the server would
        # take its next request for it: end that connection. Any other client is already sending the
        # body, which the server reads and discards; closing on it could reset the connection before
        # the client reads the 413.
        return {"Connection": "close"} if headers.get("expect", "").lower() == "100-continue" else {}

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, headers: Mapping[str, str] | None = None
    ) -> None:
        message = f"The request body exceeds {self.max_body_bytes} bytes"
        await error_response(413, "payload_too_large", message, headers=headers)(scope, receive, send)
