"""The pure ASGI middleware on minimal applications (the full app is covered in integration/)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_correlation_id import CorrelationIdMiddleware
from httpx import ASGITransport, AsyncClient
from starlette.types import Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
)
from {{ cookiecutter.package_name }}.core.request_id import is_well_formed

from ..support import IsolatedSettings


async def echo_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def crash_before_responding(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("database password is hunter2")


async def crash_while_responding(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("half-way")


def client_for(app: object) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver")  # type: ignore[arg-type]


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture(autouse=True)
def json_logs() -> None:
    configure_logging(IsolatedSettings(log_format="json"))


@pytest.mark.parametrize(
    ("request_id", "kept"),
    [("abc-123_X.y:z", True), ("x" * 128, True), ("has spaces", False), ("x" * 129, False), ("\xff\xfe", False)],
)
def test_request_ids_from_clients_are_kept_only_when_well_formed(request_id: str, kept: bool) -> None:
    assert is_well_formed(request_id) is kept


async def test_a_crash_becomes_a_500_envelope_without_internals(capsys: pytest.CaptureFixture[str]) -> None:
    app = CorrelationIdMiddleware(RequestContextMiddleware(crash_before_responding), validator=is_well_formed)
    async with client_for(app) as client:
        response = await client.get("/", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Internal server error", "request_id": "crash-1"}
    }
    assert "hunter2" not in response.text
    assert response.headers["x-request-id"] == "crash-1"
    assert '"event":"unhandled_error"' in capsys.readouterr().out


async def test_a_crash_after_the_response_started_is_left_to_the_server() -> None:
    async with client_for(RequestContextMiddleware(crash_while_responding)) as client:
        with pytest.raises(RuntimeError, match="half-way"):
            await client.get("/")


async def test_bodies_within_the_limit_pass_whole() -> None:
    async with client_for(BodySizeLimitMiddleware(echo_body, max_body_bytes=10)) as client:
        assert (await client.post("/", content=b"0123456789")).text == "0123456789"
        assert (await client.post("/", content=chunks(b"01234", b"56789"))).text == "0123456789"


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async with client_for(BodySizeLimitMiddleware(crash_before_responding, max_body_bytes=10)) as client:
        response = await client.post("/", content=b"x" * 11)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_streamed_body_is_cut_off_at_the_limit() -> None:
    async with client_for(BodySizeLimitMiddleware(echo_body, max_body_bytes=10)) as client:
        response = await client.post("/", content=chunks(b"012345", b"6789", b"overflow"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_an_http2_body_without_a_declared_length_is_still_counted() -> None:
    # HTTP/2 may send a body with neither Content-Length nor Transfer-Encoding.
    parts = iter([b"0123456789", b"overflow"])
    sent: list[Message] = []

    async def receive() -> Message:
        body = next(parts, b"")
        return {"type": "http.request", "body": body, "more_body": bool(body)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": "2", "method": "POST", "path": "/", "headers": []}
    await BodySizeLimitMiddleware(echo_body, max_body_bytes=10)(scope, receive, send)
    assert sent[0]["status"] == 413


async def test_unhandled_errors_are_answered_then_handed_to_the_error_reporter() -> None:
    reported: list[BaseException] = []
    app = RequestContextMiddleware(crash_before_responding, report_error=reported.append)
    async with client_for(app) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert [type(error) for error in reported] == [RuntimeError]
