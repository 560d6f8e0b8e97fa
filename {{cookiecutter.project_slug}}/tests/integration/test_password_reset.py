"""Password reset by e-mail, through the real SMTP client to the tests' SMTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import InterfaceError

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import (
    AccountToken,
    AuditEvent,
    User,
    utc_now,
)
from {{ cookiecutter.package_name }}.db.repositories import UserRepository
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import (
    CLIENT_ADDRESS,
    NEW_PASSWORD,
    PASSWORD,
    WRONG_PASSWORD,
    Account,
    Mailbox,
    log_in,
    skip_unless_row_locks,
    text_part,
    token_from,
    until_a_statement_waits_on_a_lock,
)
from .test_admin import user_id_of

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
UNKNOWN = "nobody@example.com"
OTHER_PASSWORD = "yet another long passphrase"  # pragma: allowlist secret
SHORT_PASSWORD = "short"  # pragma: allowlist secret


def reset_mails_to(mailbox: Mailbox) -> list[str]:
    return [message["To"] for message in mailbox.messages if "reset" in message["Subject"].lower()]


async def reset_link_token(client: AsyncClient, mailbox: Mailbox, email: str) -> str:
    response = await client.post(RESET, json={"email": email})
    assert response.status_code == 202, response.text
    return token_from(mailbox.last_to(email))


async def set_active(app_context: AppContext, email: str, is_active: bool) -> None:
    async with app_context.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(is_active=is_active))
        await session.commit()


async def test_a_reset_sets_the_new_password_and_ends_every_session(
    client: AsyncClient, account: Account, mailbox: Mailbox, settings: Settings
) -> None:
    token = await reset_link_token(client, mailbox, account.email)
    assert f"{settings.public_base_url}/reset-password?token={token}" in text_part(mailbox.last_to(account.email))

    response = await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 204, response.text
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401
    old = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert old.status_code == 401
    tokens = await log_in(client, account.email, NEW_PASSWORD)
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["email_verified"] is True  # the link proved the address


async def test_the_reset_mail_expires_with_its_link(
    client: AsyncClient, account: Account, mailbox: Mailbox, app_context: AppContext
) -> None:
    """The `Expires` header (RFC 4021): mail clients can show it{% if cookiecutter.use_celery %}, and a queued job is dropped after it{% endif %}."""
    await reset_link_token(client, mailbox, account.email)
    expires = parsedate_to_datetime(mailbox.last_to(account.email)["Expires"])
    async with app_context.database.sessions() as session:
        token = (await session.scalars(select(AccountToken).where(AccountToken.purpose == "password_reset"))).one()
    assert abs(expires - token.expires_at) < timedelta(seconds=2)


async def test_known_and_unknown_addresses_get_the_same_answer(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    known = await client.post(RESET, json={"email": account.email})
    unknown = await client.post(RESET, json={"email": UNKNOWN})

    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 202
    assert reset_mails_to(mailbox) == [account.email]


async def test_an_admin_requires_a_new_password_and_keeps_whoever_knew_the_old_one_out(
    client: AsyncClient, account: Account, admin: Account, mailbox: Mailbox
) -> None:
    """The compromised-account runbook: the account stays active, so its owner can reset the password."""
    user_id, admin_id = await user_id_of(client, account), await user_id_of(client, admin)

    response = await client.post(f"/api/v1/admin/users/{user_id}/require-new-password", headers=admin.headers)

    assert response.status_code == 204
    assert mailbox.last_to(account.email)["Subject"].startswith("Set a new password")
    old_password = {"username": account.email, "password": PASSWORD}
    assert (await client.post("/api/v1/auth/token", data=old_password)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
    refresh = {"refresh_token": account.refresh_token}
    assert (await client.post("/api/v1/auth/refresh", json=refresh)).status_code == 401
    token = await reset_link_token(client, mailbox, account.email)
    assert (await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})).status_code == 204
    await log_in(client, account.email, NEW_PASSWORD)
    recorded = await client.get(
        "/api/v1/admin/audit-events", params={"action": "admin.new_password_required"}, headers=admin.headers
    )
    assert [(event["actor_id"], event["target_id"]) for event in recorded.json()] == [(admin_id, str(user_id))]


async def test_an_admin_requires_no_new_password_of_their_own_account_or_a_missing_one(
    client: AsyncClient, admin: Account
) -> None:
    admin_id = await user_id_of(client, admin)
    own = await client.post(f"/api/v1/admin/users/{admin_id}/require-new-password", headers=admin.headers)
    assert (own.status_code, own.json()["error"]["code"]) == (409, "conflict")
    missing = await client.post("/api/v1/admin/users/999999/require-new-password", headers=admin.headers)
    assert missing.status_code == 404
    await log_in(client, admin.email)  # the password still works


async def test_a_deactivated_account_gets_no_reset_link(
    client: AsyncClient, account: Account, mailbox: Mailbox, app_context: AppContext
) -> None:
    await set_active(app_context, account.email, False)

    response = await client.post(RESET, json={"email": account.email})

    assert response.status_code == 202  # the answer every address gets
    assert reset_mails_to(mailbox) == []


@pytest.mark.parametrize("known", [True, False], ids=["known-address", "unknown-address"])
async def test_the_answer_is_sent_before_the_address_is_looked_up(
    app: FastAPI, account: Account, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    """So the time to answer cannot depend on whether the address has an account."""
    events: list[str] = []
    look_up = UserRepository.by_email

    async def recording_look_up(self: UserRepository, email: str) -> Any:
        events.append("looked up")
        return await look_up(self, email)

    monkeypatch.setattr(UserRepository, "by_email", recording_look_up)

    status = await call_asgi(app, RESET, {"email": account.email if known else UNKNOWN}, on_answered=events.append)

    assert status == 202
    assert events == ["answered", "looked up"]
    assert reset_mails_to(mailbox) == ([account.email] if known else [])


async def call_asgi(app: FastAPI, path: str, payload: dict[str, str], on_answered: Callable[[str], None]) -> int:
    """POST straight to the ASGI app, noting the moment the last byte of the answer is sent."""
    body = json.dumps(payload).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": CLIENT_ADDRESS,
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            on_answered("answered")

    async with asyncio.timeout(10):
        await app(scope, receive, send)
    return status


async def test_a_reset_link_works_once(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    token = await reset_link_token(client, mailbox, account.email)
    assert (await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})).status_code == 204

    again = await client.post(CONFIRM, json={"token": token, "new_password": OTHER_PASSWORD})

    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_token"


async def test_a_reset_spends_the_earlier_links(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    first = await reset_link_token(client, mailbox, account.email)
    second = await reset_link_token(client, mailbox, account.email)
    assert (await client.post(CONFIRM, json={"token": second, "new_password": NEW_PASSWORD})).status_code == 204

    response = await client.post(CONFIRM, json={"token": first, "new_password": OTHER_PASSWORD})

    assert response.status_code == 400


async def test_a_reset_and_an_admins_deactivation_at_once_take_turns(
    client: AsyncClient, account: Account, admin: Account, app_context: AppContext, mailbox: Mailbox, settings: Settings
) -> None:
    """The reset held its link's row and waited for the user's; the deactivation held the user's row
    and waited for the link's: PostgreSQL ended the deadlock with a 500, and the deactivation could
    be the change lost. Both now take the user's row first."""
    skip_unless_row_locks(settings)
    reset_token = await reset_link_token(client, mailbox, account.email)
    user_id = await user_id_of(client, account)
    async with app_context.database.engine.connect() as holder:
        # The deactivation has written the user's row when it reaches the sessions, held here.
        sessions = text("SELECT id FROM login_sessions WHERE user_id = :user FOR UPDATE")
        await holder.execute(sessions, {"user": user_id})
        patch = {"is_active": False}
        deactivation = asyncio.create_task(
            client.patch(f"/api/v1/admin/users/{user_id}", json=patch, headers=admin.headers)
        )
        await until_a_statement_waits_on_a_lock(app_context, "UPDATE login_sessions")
        reset = asyncio.create_task(client.post(CONFIRM, json={"token": reset_token, "new_password": NEW_PASSWORD}))
        await until_a_statement_waits_on_a_lock(app_context, "", count=2)
        await holder.commit()
    deactivated, refused = await deactivation, await reset

    assert deactivated.status_code == 200, deactivated.text
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_token")  # spent by the admin
    login = await client.post("/api/v1/auth/token", data={"username": account.email, "password": NEW_PASSWORD})
    assert login.status_code == 401


async def test_an_expired_link_is_refused(
    client: AsyncClient, account: Account, mailbox: Mailbox, app_context: AppContext
) -> None:
    token = await reset_link_token(client, mailbox, account.email)
    async with app_context.database.sessions() as session:
        await session.execute(update(AccountToken).values(expires_at=utc_now()))
        await session.commit()

    response = await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    await log_in(client, account.email, PASSWORD)  # unchanged


async def test_a_link_of_an_account_deactivated_since_is_refused(
    client: AsyncClient, account: Account, mailbox: Mailbox, app_context: AppContext
) -> None:
    token = await reset_link_token(client, mailbox, account.email)
    await set_active(app_context, account.email, False)

    response = await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_token"
    await set_active(app_context, account.email, True)
    await log_in(client, account.email, PASSWORD)  # unchanged


async def test_links_expire_after_the_configured_time(
    client: AsyncClient, account: Account, mailbox: Mailbox, app_context: AppContext, settings: Settings
) -> None:
    await reset_link_token(client, mailbox, account.email)
    async with app_context.database.sessions() as session:
        token = (await session.scalars(select(AccountToken).where(AccountToken.purpose == "password_reset"))).one()
    lifetime = (token.expires_at - token.created_at).total_seconds()
    assert lifetime == pytest.approx(settings.password_reset_ttl_seconds, abs=5)
    text = text_part(mailbox.last_to(account.email))
    assert f"{settings.password_reset_ttl_seconds // 60} minutes" in text


async def test_only_the_hash_of_a_token_is_stored(
    client: AsyncClient, account: Account, mailbox: Mailbox, app_context: AppContext
) -> None:
    token = await reset_link_token(client, mailbox, account.email)
    async with app_context.database.sessions() as session:
        stored = (await session.scalars(select(AccountToken).where(AccountToken.purpose == "password_reset"))).one()
        events = (await session.scalars(select(AuditEvent))).all()
    assert token not in stored.token_hash
    assert "auth.password_reset_request" in {event.action for event in events}
    assert all(token not in repr(vars(event)) for event in events)


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 257])
async def test_a_made_up_token_is_refused(client: AsyncClient, token: str) -> None:
    response = await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code in (400, 422)


async def test_the_new_password_follows_the_policy(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    token = await reset_link_token(client, mailbox, account.email)
    response = await client.post(CONFIRM, json={"token": token, "new_password": SHORT_PASSWORD})
    assert response.status_code == 422


async def test_a_reset_lifts_a_lockout(
    client: AsyncClient, account: Account, mailbox: Mailbox, settings: Settings
) -> None:
    for _ in range(settings.login_lockout_threshold):
        await client.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
    locked = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert locked.status_code == 429

    token = await reset_link_token(client, mailbox, account.email)
    assert (await client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})).status_code == 204

    await log_in(client, account.email, NEW_PASSWORD)


class TestMailsPerAddress:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(email_rate_limit_per_address="2/hour", email_rate_limit_per_client="10/hour")

    async def test_each_address_gets_a_few_mails_an_hour(self, client: AsyncClient) -> None:
        statuses = [(await client.post(RESET, json={"email": UNKNOWN})).status_code for _ in range(3)]
        assert statuses == [202, 202, 429]
        assert (await client.post(RESET, json={"email": "someone@example.com"})).status_code == 202


class TestMailsPerClient:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(email_rate_limit_per_address="10/hour", email_rate_limit_per_client="2/hour")

    async def test_each_client_gets_a_few_requests_an_hour(self, client: AsyncClient) -> None:
        addresses = [f"someone{number}@example.com" for number in range(3)]
        statuses = [(await client.post(RESET, json={"email": address})).status_code for address in addresses]
        assert statuses == [202, 202, 429]
        refused = await client.post(RESET, json={"email": addresses[0]})
        assert int(refused.headers["Retry-After"]) > 0


def connection_closed(email: str) -> InterfaceError:
    """What the first use of a pooled connection raises after PostgreSQL restarted."""
    closed = Exception("connection is closed")
    return InterfaceError("SELECT * FROM users WHERE email = $1", {"email": email}, closed, connection_invalidated=True)


def log_events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


async def emails_counted(client: AsyncClient, outcome: str) -> float:
    sample = 'emails_total{outcome="' + outcome + '"} '
    metrics = (await client.get("/metrics")).text
    return next((float(line.removeprefix(sample)) for line in metrics.splitlines() if line.startswith(sample)), 0.0)


async def test_the_link_goes_out_when_the_database_fails_once_after_the_answer(
    client: AsyncClient, account: Account, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool replaces a dead connection: one more attempt sends the link the client was promised."""
    look_up = UserRepository.by_email
    failures = [connection_closed(account.email)]

    async def failing_once(self: UserRepository, email: str) -> Any:
        if failures:
            raise failures.pop()
        return await look_up(self, email)

    monkeypatch.setattr(UserRepository, "by_email", failing_once)
    sent = await emails_counted(client, "sent")
    response = await client.post(RESET, json={"email": account.email})

    assert response.status_code == 202
    assert reset_mails_to(mailbox) == [account.email]
    assert await emails_counted(client, "sent") == sent + 1


async def test_a_link_the_database_keeps_from_going_out_is_logged_and_counted(
    client: AsyncClient,
    account: Account,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The client has its 202 already: the failure goes where the EmailDeliveryFailing alert looks."""
    attempts: list[str] = []

    async def failing(self: UserRepository, email: str) -> Any:
        attempts.append(email)
        raise connection_closed(email)

    monkeypatch.setattr(UserRepository, "by_email", failing)
    failed = await emails_counted(client, "failed")
    capsys.readouterr()
    response = await client.post(RESET, json={"email": account.email})

    assert response.status_code == 202
    assert reset_mails_to(mailbox) == []
    assert attempts == [account.email, account.email]  # one retry, no more
    events = log_events(capsys.readouterr().out)
    assert [line["event"] for line in events if line["level"] == "error"] == ["email_not_sent"]
    not_sent = next(line for line in events if line["event"] == "email_not_sent")
    assert not_sent["template"] == "password_reset"
    assert "connection is closed" in not_sent["error"]
    assert account.email not in json.dumps(not_sent)  # the address is personal data
    assert await emails_counted(client, "failed") == failed + 1
