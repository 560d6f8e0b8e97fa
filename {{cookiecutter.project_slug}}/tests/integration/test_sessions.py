"""At once, not at expiry: logout, deactivation, a role change and a password change end sessions
from the next request on, for access and refresh tokens alike. A user lists their own sessions and
ends one, or all but this one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, update

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import (
    LoginSession,
    RefreshToken,
    utc_now,
)
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import (
    CLIENT_ADDRESS,
    NEW_PASSWORD,
    PASSWORD,
    SECRET_KEY,
    WRONG_PASSWORD,
    Account,
    client_of,
    log_in,
)
from .test_account_deletion import recorded
from .test_admin import user_id_of

SESSIONS = "/api/v1/users/me/sessions"
NEW_SECRET_KEY = "a-new-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret


async def works(client: AsyncClient, account: Account) -> bool:
    """Whether the account's access token is accepted; asserts the only other answer is RFC 6750's
    invalid_token 401, which tells a client that this token, not its request, is the problem."""
    response = await client.get("/api/v1/users/me", headers=account.headers)
    assert response.status_code in (200, 401)
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    return response.status_code == 200


async def refreshes(client: AsyncClient, account: Account) -> bool:
    status = (await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})).status_code
    assert status in (200, 401)
    return status == 200


async def second_session(client: AsyncClient, account: Account) -> Account:
    tokens = await log_in(client, account.email)
    return Account(account.email, PASSWORD, tokens["access_token"], tokens["refresh_token"])


async def test_logout_ends_this_session_only(client: AsyncClient, account: Account) -> None:
    other = await second_session(client, account)
    assert (await client.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
    assert not await works(client, account)
    assert not await refreshes(client, account)
    assert await works(client, other)
    assert await refreshes(client, other)


async def test_deactivation_ends_every_session_and_login(client: AsyncClient, account: Account, admin: Account) -> None:
    other = await second_session(client, account)
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    response = await client.patch(f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=admin.headers)
    assert (response.status_code, response.json()["is_active"]) == (200, False)
    for session in (account, other):
        assert not await works(client, session)
        assert not await refreshes(client, session)
    login = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert login.status_code == 401

    await client.patch(f"/api/v1/admin/users/{user_id}", json={"is_active": True}, headers=admin.headers)
    assert await works(client, await second_session(client, account))


async def test_a_role_change_ends_every_session(client: AsyncClient, account: Account, admin: Account) -> None:
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    response = await client.patch(f"/api/v1/admin/users/{user_id}", json={"role": "admin"}, headers=admin.headers)
    assert (response.status_code, response.json()["role"]) == (200, "admin")
    assert not await works(client, account)
    assert not await refreshes(client, account)
    promoted = await second_session(client, account)
    assert (await client.get("/api/v1/admin/users", headers=promoted.headers)).status_code == 200


async def test_a_password_change_ends_every_session(client: AsyncClient, account: Account) -> None:
    other = await second_session(client, account)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/users/me/password", json=body, headers=account.headers)).status_code == 204
    for session in (account, other):
        assert not await works(client, session)
        assert not await refreshes(client, session)
    old = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert old.status_code == 401
    assert (await log_in(client, account.email, NEW_PASSWORD))["access_token"]


async def test_a_password_change_needs_the_current_password(client: AsyncClient, account: Account) -> None:
    body = {"current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD}
    response = await client.post("/api/v1/users/me/password", json=body, headers=account.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_credentials")
    assert await works(client, account)  # nothing changed
    assert (await log_in(client, account.email))["access_token"]


async def test_an_admin_revokes_every_session_of_a_user(
    client: AsyncClient, make_account: Callable[[str], Awaitable[Account]], admin: Account
) -> None:
    account = await make_account("lost-laptop@example.com")
    user_id = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    response = await client.post(f"/api/v1/admin/users/{user_id}/revoke-sessions", headers=admin.headers)
    assert response.status_code == 204
    assert not await works(client, account)
    assert not await refreshes(client, account)
    assert await works(client, await second_session(client, account))  # the account itself still works


async def session_from(client: AsyncClient, email: str, user_agent: str) -> Account:
    """Log in from a client that names itself `user_agent`."""
    form = {"username": email, "password": PASSWORD}
    response = await client.post("/api/v1/auth/token", data=form, headers={"User-Agent": user_agent})
    assert response.status_code == 200, response.text
    tokens = response.json()
    return Account(email, PASSWORD, tokens["access_token"], tokens["refresh_token"])


async def live_sessions(client: AsyncClient, account: Account) -> list[dict[str, object]]:
    response = await client.get(SESSIONS, headers=account.headers)
    assert response.status_code == 200, response.text
    sessions: list[dict[str, object]] = response.json()
    return sessions


async def test_sessions_outlive_a_new_signing_key_while_the_old_one_is_a_fallback(
    account: Account,
    settings_factory: Callable[..., Settings],
    started_app: Callable[[Settings], Awaitable[FastAPI]],
) -> None:
    """The rotation docs/operations.md gives: the new SECRET_KEY with the old one in
    SECRET_KEY_FALLBACKS, then, once no token signed with it is left, the fallback removed."""
    rotating = await started_app(settings_factory(secret_key=NEW_SECRET_KEY, secret_key_fallbacks=[SECRET_KEY]))
    async with client_of(rotating) as client:
        assert await works(client, account)
        renewal = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
        assert renewal.status_code == 200, renewal.text
        assert await works(client, account)  # the old access token still counts until it expires
    tokens = renewal.json()
    renewed = replace(account, access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])
    async with client_of(await started_app(settings_factory(secret_key=NEW_SECRET_KEY))) as client:
        assert await works(client, renewed)
        assert await refreshes(client, renewed)
        assert not await works(client, account)  # signed with the key that is gone


async def test_a_user_sees_where_they_are_logged_in(client: AsyncClient, account: Account) -> None:
    phone = await session_from(client, account.email, "Phone browser/1.0")
    assert await refreshes(client, phone)  # a rotated refresh token keeps its session

    newest, first = await live_sessions(client, account)

    client_ip = CLIENT_ADDRESS[0]
    assert (newest["user_agent"], newest["client_ip"], newest["current"]) == ("Phone browser/1.0", client_ip, False)
    assert (first["current"], first["client_ip"]) == (True, client_ip)
    assert {"id", "created_at", "last_used_at", "client_ip", "user_agent", "current"} == set(first)
    assert (await client.post("/api/v1/auth/logout", headers=account.headers)).status_code == 204
    assert [session["id"] for session in await live_sessions(client, phone)] == [newest["id"]]


async def test_a_session_was_last_used_at_its_login_then_at_its_newest_renewal(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    (logged_in,) = await live_sessions(client, account)
    assert logged_in["last_used_at"] == logged_in["created_at"]
    async with app_context.database.sessions() as session:  # as if it had logged in an hour ago
        an_hour_ago = utc_now() - timedelta(hours=1)
        await session.execute(update(LoginSession).values(created_at=an_hour_ago, last_used_at=an_hour_ago))
        await session.commit()
    before = utc_now()

    assert await refreshes(client, account)

    (renewed,) = await live_sessions(client, account)
    assert datetime.fromisoformat(str(renewed["created_at"])) == an_hour_ago
    assert datetime.fromisoformat(str(renewed["last_used_at"])) >= before


async def test_a_session_past_its_end_is_not_listed(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    old = await session_from(client, account.email, "Old laptop")
    (old_id,) = [session["id"] for session in await live_sessions(client, old) if session["current"]]
    async with app_context.database.sessions() as session:
        ended = utc_now() - timedelta(seconds=1)  # as if its refresh token had expired
        await session.execute(update(LoginSession).where(LoginSession.id == old_id).values(expires_at=ended))
        await session.commit()

    assert [session["current"] for session in await live_sessions(client, account)] == [True]


async def test_a_session_lasts_as_long_as_its_newest_refresh_token(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 200
    async with app_context.database.sessions() as session:
        newest = await session.scalar(select(func.max(RefreshToken.expires_at)))
        (live,) = (await session.scalars(select(LoginSession.expires_at))).all()

    assert live == newest


async def test_ending_one_session_logs_it_out_at_once(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    phone = await session_from(client, account.email, "Phone browser/1.0")
    phone_id = (await live_sessions(client, account))[0]["id"]

    response = await client.delete(f"{SESSIONS}/{phone_id}", headers=account.headers)

    assert response.status_code == 204
    assert not await works(client, phone)
    assert not await refreshes(client, phone)
    assert await works(client, account)
    assert (await client.delete(f"{SESSIONS}/{phone_id}", headers=account.headers)).status_code == 404
    for malformed in ("not-a-session", str(UUID(hex=str(phone_id)))):  # only the form the list gives: 32 hex digits
        assert (await client.delete(f"{SESSIONS}/{malformed}", headers=account.headers)).status_code == 404
    user_id = await user_id_of(client, account)
    assert await recorded(app_context, "user.session_end") == [(user_id, str(user_id), "success")]


async def test_the_path_that_ends_the_other_sessions_is_no_session_id(client: AsyncClient, account: Account) -> None:
    response = await client.delete(f"{SESSIONS}/end-others", headers=account.headers)
    assert (response.status_code, response.headers["allow"]) == (405, "POST")


async def test_another_users_session_cannot_be_ended(
    client: AsyncClient, account: Account, make_account: Callable[[str], Awaitable[Account]]
) -> None:
    bob = await make_account("bob@example.com")
    (bob_session,) = await live_sessions(client, bob)

    response = await client.delete(f"{SESSIONS}/{bob_session['id']}", headers=account.headers)

    assert response.status_code == 404
    assert await works(client, bob)


async def test_logging_out_everywhere_else_keeps_this_session(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    others = [await session_from(client, account.email, agent) for agent in ("Phone", "Tablet")]

    response = await client.post(f"{SESSIONS}/end-others", headers=account.headers)

    assert response.status_code == 204
    for other in others:
        assert not await works(client, other)
        assert not await refreshes(client, other)
    assert [session["current"] for session in await live_sessions(client, account)] == [True]
    user_id = await user_id_of(client, account)
    assert await recorded(app_context, "user.other_sessions_end") == [(user_id, str(user_id), "success")]
