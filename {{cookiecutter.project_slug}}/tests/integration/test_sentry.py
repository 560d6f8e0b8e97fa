"""Sentry: the real SDK sends its envelopes to a local HTTP endpoint used as the DSN."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from fastapi import FastAPI, Request
from httpx import ASGITransport, AsyncClient

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.observability.sentry import FILTERED, init_sentry
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import CLIENT_ADDRESS, PASSWORD, SECRET_KEY

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"  # pragma: allowlist secret
COOKIE = "session=cookie-value-0123456789"


class EnvelopeSink(ThreadingHTTPServer):
    """Receives what the SDK posts to `/api/<project>/envelope/` and keeps the event items."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EnvelopeHandler)
        self.raw: list[bytes] = []
        self.events: list[dict[str, Any]] = []

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server_address[1]}/1"

    def events_of(self, exception_type: str) -> list[dict[str, Any]]:
        """The error events whose exception is `exception_type` (others may come from unrelated error logs)."""
        return [
            event
            for event in self.events
            if event.get("exception", {}).get("values", [{}])[-1].get("type") == exception_type
        ]

    def keep(self, body: bytes) -> None:
        self.raw.append(body)
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                self.events.append(json.loads(payload))


class _EnvelopeHandler(BaseHTTPRequestHandler):
    server: EnvelopeSink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding")
        assert encoding in (None, "gzip"), f"unexpected Content-Encoding {encoding}"
        self.server.keep(gzip.decompress(body) if encoding == "gzip" else body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass  # quiet


@pytest.fixture
def sink() -> Iterator[EnvelopeSink]:
    server = EnvelopeSink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)  # later tests run without Sentry


@pytest.fixture
async def tracked_app(settings_factory: Callable[..., Settings], sink: EnvelopeSink) -> AsyncIterator[FastAPI]:
    app = create_app(settings_factory(sentry_dsn=sink.dsn, sentry_release=None))

    async def crash(request: Request) -> None:
        await request.json()
        raise RuntimeError(f"failed while holding {SECRET_KEY}")

    app.add_api_route("/crash", crash, methods=["POST"])
    async with app.router.lifespan_context(app):
        yield app


async def test_an_unhandled_error_is_reported_once_with_its_request_id_and_no_secret(
    tracked_app: FastAPI, sink: EnvelopeSink
) -> None:
    async with _client(tracked_app) as client:
        response = await client.post(
            "/crash?token=one-time-link-token&lang=en",
            json={"email": "ada@example.com", "new_password": PASSWORD, "code": "recovery-code-7"},
            headers={"Authorization": f"Bearer {TOKEN}", "Cookie": COOKIE, "X-Request-ID": "req-sentry-1"},
        )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    (event,) = sink.events_of("RuntimeError")
    assert len(event["exception"]["values"]) == 1
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert (event["environment"], event["release"]) == ("test", __version__)
    assert event["request"]["query_string"] == "token=[Filtered]&lang=[Filtered]"
    assert not event["request"].get("data")  # bodies hold credentials under any name
    everything = b"".join(sink.raw).decode()
    secrets = (TOKEN, PASSWORD, "recovery-code-7", "ada@example.com", "cookie-value-0123456789", SECRET_KEY)
    for secret in (*secrets, "one-time-link-token"):
        assert secret not in everything


async def test_client_errors_are_not_reported(tracked_app: FastAPI, sink: EnvelopeSink) -> None:
    async with _client(tracked_app) as client:
        assert (await client.get("/no/such/page")).status_code == 404
        assert (await client.get("/api/v1/users/me")).status_code == 401
        assert (await client.post("/api/v1/auth/register", json={"email": "x"})).status_code == 422
    sentry_sdk.flush(timeout=5)
    assert sink.events == []


async def test_a_schema_error_is_reported_not_hidden_as_unavailable(
    settings_factory: Callable[..., Settings], sink: EnvelopeSink, tmp_path: Path
) -> None:
    # A deploy that forgot its migrations: every query fails with a missing table.
    url = f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}"
    app = create_app(settings_factory(sentry_dsn=sink.dsn, database_url=url))
    token = app.state.context.tokens.issue_access_token(1, "session")
    async with app.router.lifespan_context(app), _client(app) as client:
        response = await client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    (event,) = sink.events_of("OperationalError")
    assert "no such table" in event["exception"]["values"][-1]["value"]


@pytest.mark.parametrize("dsn", [None, ""], ids=["unset", "empty as in .env.example"])
def test_without_a_dsn_nothing_is_initialised(settings_factory: Callable[..., Settings], dsn: str | None) -> None:
    assert not init_sentry(settings_factory(sentry_dsn=dsn))
    assert not sentry_sdk.is_initialized()


def test_secrets_in_keys_and_in_text_are_filtered_from_what_is_sent(
    settings_factory: Callable[..., Settings], sink: EnvelopeSink
) -> None:
    url = "postgresql+asyncpg://app:db-password-123@db.internal/app"  # pragma: allowlist secret
    assert init_sentry(settings_factory(sentry_dsn=sink.dsn, database_url=url))
    data = {"api_key": "api-key-value-1", "refresh_token": "refresh-value-2", "rows": 3}  # pragma: allowlist secret
    sentry_sdk.add_breadcrumb(message=f"connecting to {url} with Bearer {TOKEN}", data=data)
    sentry_sdk.capture_message(f"could not reach {url}")
    sentry_sdk.flush(timeout=5)
    (event,) = sink.events
    (crumb,) = (crumb for crumb in event["breadcrumbs"]["values"] if "connecting to" in crumb.get("message", ""))
    assert crumb["data"] == {"api_key": FILTERED, "refresh_token": FILTERED, "rows": 3}
    assert event["message"] == f"could not reach postgresql+asyncpg://app:{FILTERED}@db.internal/app"
    everything = b"".join(sink.raw).decode()
    for secret in ("db-password-123", TOKEN, "api-key-value-1", "refresh-value-2"):
        assert secret not in everything


def test_a_password_only_the_standard_library_parses_is_filtered_too(
    settings_factory: Callable[..., Settings], sink: EnvelopeSink
) -> None:
    # redis-py reads this password as "Pa@ss:SentinelRedisPass91x"; SQLAlchemy's parser fails on it.
    url = "redis://:Pa@ss:SentinelRedisPass91x@127.0.0.1:6379/0"
    assert init_sentry(settings_factory(sentry_dsn=sink.dsn, redis_url=url))
    sentry_sdk.capture_message(f"could not reach {url}, nor with Pa%40ss%3ASentinelRedisPass91x")
    sentry_sdk.flush(timeout=5)
    (event,) = sink.events
    assert event["message"] == f"could not reach redis://:{FILTERED}@127.0.0.1:6379/0, nor with {FILTERED}"


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app, client=CLIENT_ADDRESS), base_url="http://testserver")
