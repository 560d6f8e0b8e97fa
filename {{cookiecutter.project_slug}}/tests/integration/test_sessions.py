"""At once, not at expiry: logout, deactivation, a role change and a password change end sessions
from the next request on, for access and refresh tokens alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from httpx import AsyncClient

from ..support import NEW_PASSWORD, PASSWORD, WRONG_PASSWORD, Account, log_in


async def works(client: AsyncClient, account: Account) -> bool:
    """Whether the account's access token is accepted; asserts the only other answer is 401."""
    status = (await client.get("/api/v1/users/me", headers=account.headers)).status_code
    assert status in (200, 401)
    return status == 200


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
