"""The pure ASGI middleware on minimal applications (the full app is covered in integration/)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from asgi_correlation_id import CorrelationIdMiddleware
from httpx import ASGITransport, AsyncClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
)
from {{ cookiecutter.package_name }}.core.request_id import is_well_formed

from ..support import IsolatedSettings, free_port


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


@contextmanager
def served(app: ASGIApp) -> Iterator[int]:
    """`app` behind a real uvicorn, as `serve` runs it, on a free port of its own."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http="httptools", lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        thread.join()


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


def test_a_refused_body_the_client_withholds_ends_the_connection() -> None:
    # Left open, the connection would take the client's next request for the body still owed
    # (a client waiting on `Expect: 100-continue` never sends it).
    with (
        served(BodySizeLimitMiddleware(echo_body, max_body_bytes=10)) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as client,
    ):
        client.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):  # until the server closes; a timeout if it keeps the connection
            answer += chunk
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 413 ")
    assert b"\r\nconnection: close" in head


def test_a_refused_body_the_client_sends_keeps_the_connection_for_its_next_request() -> None:
    with (
        served(BodySizeLimitMiddleware(echo_body, max_body_bytes=10)) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as client,
    ):
        client.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\n0123456789a")
        client.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nok")
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 2 or not answer.endswith(b"\r\n0\r\n\r\n"):  # the echo's last chunk
            chunk = client.recv(65536)
            assert chunk, f"the server closed the connection after {answer!r}"
            answer += chunk
    first, second = answer.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"413 ")
    assert b"connection: close" not in first.lower()
    assert second.startswith(b"200 ")


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
