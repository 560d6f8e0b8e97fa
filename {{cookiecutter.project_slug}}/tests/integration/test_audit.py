"""The audit log: one event per security action, with its origin, nothing secret in it, written in
the transaction of the change it records, readable by admins with filters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url, text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import USER_AGENT_LENGTH
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import CLIENT_ADDRESS, NEW_PASSWORD, PASSWORD, WRONG_PASSWORD, Account, log_in, walk_by_id


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(login_lockout_threshold=3)


async def events(client: AsyncClient, admin: Account, **filters: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/admin/audit-events", params=filters, headers=admin.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def actions(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["action"], event["outcome"]) for event in reversed(found)]  # oldest first


async def test_each_security_action_is_one_event_with_its_origin(client: AsyncClient, admin: Account) -> None:
    agent = "audit-test/1.0 " + "x" * 500
    client.headers["User-Agent"] = agent
    response = await client.post("/api/v1/auth/register", json={"email": "eve@example.com", "password": PASSWORD})
    user_id = response.json()["id"]
    registration = (await events(client, admin, action="user.register", target_id=str(user_id)))[0]
    assert registration | {"id": 0, "occurred_at": ""} == {
        "id": 0,
        "occurred_at": "",
        "actor_id": user_id,
        "action": "user.register",
        "target_type": "user",
        "target_id": str(user_id),
        "outcome": "success",
        "detail": None,
        "client_ip": CLIENT_ADDRESS[0],
        "user_agent": agent[:USER_AGENT_LENGTH],
        "request_id": response.headers["X-Request-ID"],
    }

    await client.post("/api/v1/auth/token", data={"username": "eve@example.com", "password": WRONG_PASSWORD})
    tokens = await log_in(client, "eve@example.com")
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # reused
    tokens = await log_in(client, "eve@example.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    await client.post("/api/v1/auth/logout", headers=headers)
    tokens = await log_in(client, "eve@example.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    await client.post("/api/v1/users/me/password", json=body, headers=headers)
    assert refreshed.status_code == 200

    assert actions(await events(client, admin, target_id=str(user_id))) == [
        ("user.register", "success"),
        ("user.email_verification_sent", "success"),
        ("auth.login", "failure"),
        ("auth.login", "success"),
        ("auth.refresh_token_reuse", "failure"),
        ("auth.login", "success"),
        ("auth.logout", "success"),
        ("auth.login", "success"),
        ("user.password_change", "success"),
    ]


async def test_admin_actions_and_reads_are_recorded(client: AsyncClient, account: Account, admin: Account) -> None:
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    admin_id = (await client.get("/api/v1/users/me", headers=admin.headers)).json()["id"]
    await client.get("/api/v1/admin/users", headers=admin.headers)
    await client.get(f"/api/v1/admin/users/{user_id}", headers=admin.headers)
    for change in ({"role": "admin"}, {"role": "member", "is_active": False}, {"is_active": True}):
        await client.patch(f"/api/v1/admin/users/{user_id}", json=change, headers=admin.headers)
    await client.post(f"/api/v1/admin/users/{user_id}/revoke-sessions", headers=admin.headers)

    found = await events(client, admin, actor_id=admin_id)
    changes = [(event["action"], event["detail"]) for event in reversed(found) if event["action"].startswith("admin.")]
    assert changes == [
        ("admin.list_users", None),
        ("admin.read_user", None),
        ("admin.role_change", "admin"),
        ("admin.role_change", "member"),
        ("admin.deactivate", None),
        ("admin.reactivate", None),
        ("admin.revoke_sessions", None),
    ]


async def test_a_lockout_is_recorded_once(client: AsyncClient, account: Account, admin: Account) -> None:
    for _ in range(4):
        await client.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
    assert actions(await events(client, admin, action="auth.lockout")) == [("auth.lockout", "success")]
    # The fourth attempt was refused before the password was checked: no fourth failure.
    failures = [event for event in await events(client, admin, action="auth.login") if event["outcome"] == "failure"]
    assert len(failures) == 3


async def test_events_are_filtered_by_actor_action_target_and_time(
    client: AsyncClient, account: Account, admin: Account
) -> None:
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    assert {event["actor_id"] for event in await events(client, admin, actor_id=user_id)} == {user_id}
    assert {event["action"] for event in await events(client, admin, action="auth.login")} == {"auth.login"}
    targeted = await events(client, admin, target_type="user", target_id=str(user_id))
    assert {event["target_id"] for event in targeted} == {str(user_id)}
    assert await events(client, admin, since="2999-01-01T00:00:00Z") == []
    assert await events(client, admin, until="2000-01-01T00:00:00Z") == []
    window = await events(client, admin, since="2000-01-01T00:00:00Z", until="2999-01-01T00:00:00Z")
    assert window == await events(client, admin)
    naive = await client.get(
        "/api/v1/admin/audit-events", params={"since": "2025-01-01T00:00:00"}, headers=admin.headers
    )
    assert naive.status_code == 422  # a time without an offset is ambiguous
    for bound in ({"since": "0001-01-01T00:00:00+05:00"}, {"until": "9999-12-31T23:59:59-05:00"}):
        beyond_utc = await client.get("/api/v1/admin/audit-events", params=bound, headers=admin.headers)
        assert beyond_utc.status_code == 422, beyond_utc.text


async def test_a_walk_by_before_id_neither_repeats_nor_skips_while_events_are_written(
    client: AsyncClient, account: Account, admin: Account
) -> None:
    existing = await events(client, admin, limit=100)

    async def log_in_again(_: list[dict[str, Any]]) -> None:
        await log_in(client, account.email, PASSWORD)  # a newer event on top of the first page

    walked = await walk_by_id(client, "/api/v1/admin/audit-events", admin, log_in_again, cursor="before_id")
    assert walked == existing  # newest first, each once, none of the newer ones
    assert len(await events(client, admin, limit=100)) > len(existing)


async def test_nothing_secret_is_stored_or_logged(
    client: AsyncClient, account: Account, admin: Account, app_context: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    cookie = "session=cookie-secret-value-123"
    client.headers["Cookie"] = cookie
    secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        NEW_PASSWORD,
        account.access_token,
        account.refresh_token,
        cookie,
        admin.access_token,
    ]
    await client.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    tokens = await log_in(client, account.email)
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    await client.post("/api/v1/users/me/password", json=body, headers=headers)
    listed = await client.get("/api/v1/admin/users", params={"email_prefix": "ada"}, headers=admin.headers)
    user_id = listed.json()[0]["id"]
    await client.patch(f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=admin.headers)
    await client.post("/api/v1/auth/logout", headers=admin.headers)

    async with app_context.database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM audit_events"))).all()
    stored = json.dumps([list(map(str, row)) for row in rows])
    logged = capsys.readouterr().out
    assert len(rows) >= 7
    assert "audit_event" in logged
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
    assert "cookie-secret-value" not in stored + logged
    assert "Bearer" not in stored + logged


async def test_a_failed_change_leaves_no_event_claiming_success(
    client: AsyncClient, account: Account, admin: Account, app_context: AppContext, settings: Settings
) -> None:
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    async with updates_of_users_fail(app_context, make_url(settings.database_url).get_backend_name()):
        response = await client.patch(
            f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=admin.headers
        )
    assert response.status_code == 500
    assert await events(client, admin, action="admin.deactivate") == []
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200  # still active


async def test_a_failed_login_is_recorded_though_nothing_else_is_written(
    client: AsyncClient, account: Account, admin: Account
) -> None:
    await client.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
    await client.post("/api/v1/auth/token", data={"username": "nobody@example.com", "password": WRONG_PASSWORD})
    failures = await events(client, admin, action="auth.login")
    assert [(event["outcome"], event["target_type"]) for event in failures][:2] == [
        ("failure", None),  # an unknown address names no account
        ("failure", "user"),
    ]


async def test_the_client_address_is_the_one_a_trusted_proxy_forwards(
    app: FastAPI, admin: Account, settings: Settings
) -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.9"}
    for trusted, expected in ((CLIENT_ADDRESS[0], "198.51.100.9"), (settings.forwarded_allow_ips, CLIENT_ADDRESS[0])):
        # As `serve` runs it: uvicorn resolves the address from proxies in FORWARDED_ALLOW_IPS.
        # Both libraries type the ASGI interface in their own, equivalent ways.
        served = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
        transport = ASGITransport(app=served, client=CLIENT_ADDRESS)  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            await client.post(
                "/api/v1/auth/token", data={"username": "x@example.com", "password": "x"}, headers=forwarded
            )
            (newest, *_) = await events(client, admin, action="auth.login")
        assert newest["client_ip"] == expected


@pytest.mark.own_app  # counts from zero
async def test_committed_events_are_counted_in_the_metrics(client: AsyncClient, account: Account) -> None:
    await client.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
    metrics = (await client.get("/metrics")).text
    assert 'audit_events_total{action="auth.login",outcome="failure"} 1.0' in metrics


@asynccontextmanager
async def updates_of_users_fail(app_context: AppContext, backend: str) -> AsyncIterator[None]:
    """A database trigger that makes every UPDATE of `users` fail, on SQLite and PostgreSQL."""
    if backend == "postgresql":
        create = [
            "CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_update BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse_update()",
        ]
        drop = ["DROP TRIGGER refuse_update ON users", "DROP FUNCTION refuse_update()"]
    else:
        create = ["CREATE TRIGGER refuse_update BEFORE UPDATE ON users BEGIN SELECT RAISE(ABORT, 'refused'); END"]
        drop = ["DROP TRIGGER refuse_update"]
    await _execute(app_context, create)
    try:
        yield
    finally:
        await _execute(app_context, drop)


async def _execute(app_context: AppContext, statements: list[str]) -> None:
    async with app_context.database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))
