"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy import Connection, Engine, Executable, event, make_url, text

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.settings import Settings

PASSWORD = "a long test passphrase 42"  # pragma: allowlist secret
WRONG_PASSWORD = "not the right passphrase"  # pragma: allowlist secret
NEW_PASSWORD = "a brand new long passphrase"  # pragma: allowlist secret
SECRET_KEY = "tests-only-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"  # pragma: allowlist secret
TOTP_ENCRYPTION_KEY = "tests-only-totp-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret
CLIENT_ADDRESS = ("203.0.113.7", 50000)
# Production refuses to run with the defaults of these (they point at the developer's machine).
PUBLIC_ADDRESSES: dict[str, Any] = {
    "public_base_url": "https://orders.example",
    "email_from": "Orders <noreply@orders.example>",
}


class IsolatedSettings(Settings):
    """Settings built only from what a test passes: never the developer's environment or .env."""

    model_config = SettingsConfigDict(env_file=None)  # not even parsed

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def client_of(app: FastAPI) -> AsyncClient:
    """An HTTP client of `app` that calls from CLIENT_ADDRESS (use it in `async with`)."""
    return AsyncClient(transport=ASGITransport(app=app, client=CLIENT_ADDRESS), base_url="http://testserver")


async def log_in(client: AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def walk_by_id(
    client: AsyncClient,
    path: str,
    account: Account,
    between_pages: Callable[[list[dict[str, Any]]], Awaitable[None]],
    *,
    cursor: str = "after_id",
) -> list[dict[str, Any]]:
    """Every row of a list endpoint, two a page, each page asked for after the last id seen (the
    `cursor` parameter); `between_pages` gets each page before the next is asked for."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(50):  # a route that ignores the cursor would serve its first page forever
        page = await _page(client, path, account, params)
        if not page:
            return rows
        rows += page
        params[cursor] = page[-1]["id"]
        await between_pages(page)
    pytest.fail(f"{path} served more than 50 pages")


async def _page(client: AsyncClient, path: str, account: Account, params: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    page: list[dict[str, Any]] = response.json()
    return page


def full_width(text: str) -> str:
    """ASCII letters and digits as their full-width forms (U+FF01 on), as East Asian keyboards type them."""
    return "".join(chr(ord(character) + 0xFEE0) for character in text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_answering(url: str, server: subprocess.Popen[bytes], log: Path, timeout_seconds: float) -> None:
    """Poll `url` until it answers 200; fail with the server's log when it exits or takes too long."""
    deadline = time.monotonic() + timeout_seconds
    with httpx.Client(timeout=1) as client:  # one client: each new one loads the CA certificates again
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"the server did not answer within {timeout_seconds} s:\n{log.read_text()}")


@dataclass
class Mailbox:
    """What the tests' SMTP server (a real aiosmtpd server in this process) received."""

    messages: list[EmailMessage] = field(default_factory=list)
    refusals: int = 0  # answer this many messages with a temporary error (451) before accepting
    unknown: set[str] = field(default_factory=set)  # recipients refused for good (550)
    refused: list[str] = field(default_factory=list)  # every recipient refused so far
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            if address in self.unknown:
                self.refused.append(address)
                return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.refusals:
                self.refusals -= 1
                return "451 Requested action aborted: try again later"
            content = envelope.original_content or b""
            self.messages.append(BytesParser(_class=EmailMessage, policy=default_policy).parsebytes(content))
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.refusals = 0
            self.unknown.clear()
            self.refused.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [message for message in self.messages if address.lower() in str(message["To"]).lower()]

    def last_to(self, address: str, subject: str = "", timeout_seconds: float = 10) -> EmailMessage:
        """The latest message to `address` whose subject starts with `subject`, waiting for it: messages
        go out after the response, so an earlier message to the address may be all there is yet."""
        deadline = time.monotonic() + timeout_seconds
        while not (received := [message for message in self.to(address) if message["Subject"].startswith(subject)]):
            if time.monotonic() > deadline:
                pytest.fail(f"no message to {address} within {timeout_seconds} s; received: {self.summary()}")
            time.sleep(0.02)
        return received[-1]

    def summary(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(str(message["To"]), str(message["Subject"])) for message in self.messages]


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage), "the message has no plain-text part"
    return str(part.get_content())


def token_from(message: EmailMessage) -> str:
    """The `token=` query parameter of the link in the message's text part."""
    for word in text_part(message).split():
        if word.startswith(("http://", "https://")) and (tokens := parse_qs(urlsplit(word).query).get("token")):
            return tokens[0]
    raise AssertionError(f"no link with a token in the message:\n{text_part(message)}")


@dataclass
class Clock:
    """The service's clock for TOTP codes (the `clock` fixture), moved on by whole 30-second steps."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def advance(self) -> None:
        self.now += timedelta(seconds=30)


def skip_unless_row_locks(settings: Settings) -> None:
    """Races pinned with row locks held in a second connection: PostgreSQL only."""
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")


async def until_a_statement_waits_on_a_lock(app_context: AppContext, statement_start: str, *, count: int = 1) -> None:
    """Until `count` statements beginning with `statement_start` wait for a lock in the test's
    database (PostgreSQL): the requests that sent them are then parked where the test wants them."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE :start || '%'"
    )
    async with app_context.database.engine.connect() as watcher:
        for _ in range(300):
            if await watcher.scalar(waiting, {"start": statement_start}) >= count:
                return
            await watcher.rollback()
            await asyncio.sleep(0.05)
    raise AssertionError(f"no {statement_start} waited on a lock")


@contextmanager
def run_by_another_request(
    target: Connection | Engine, change: Executable, *, when: str, moment: str = "before_cursor_execute"
) -> Iterator[None]:
    """In the block: at the first statement starting with `when` on `target` (one connection, or
    every connection of an engine), before or after it runs as `moment` says, another connection
    runs `change` and commits, as a concurrent request would."""
    done = False

    def run_change(conn: Connection, cursor: Any, statement: str, *rest: Any) -> None:
        nonlocal done
        if statement.startswith(when) and not done:
            done = True
            with conn.engine.begin() as other:
                other.execute(change)

    event.listen(target, moment, run_change)
    try:
        yield
    finally:
        event.remove(target, moment, run_change)
