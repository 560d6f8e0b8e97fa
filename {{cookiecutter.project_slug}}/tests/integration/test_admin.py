"""The admin API: listing and reading accounts, and the rule that keeps one active admin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import text

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import Account, log_in, skip_unless_row_locks, until_a_statement_waits_on_a_lock, walk_by_id


async def user_id_of(client: AsyncClient, account: Account) -> int:
    user_id: int = (await client.get("/api/v1/users/me", headers=account.headers)).json()["id"]
    return user_id


async def emails(client: AsyncClient, admin: Account, **params: str) -> list[str]:
    response = await client.get("/api/v1/admin/users", params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    return [user["email"] for user in response.json()]


async def test_users_are_listed_with_filters(
    client: AsyncClient, make_account: Callable[[str], Awaitable[Account]], admin: Account
) -> None:
    for email in ("ann@example.com", "an_x@example.com", "bob@example.com"):
        await make_account(email)
    bob = await client.get("/api/v1/admin/users", params={"email_prefix": "bob"}, headers=admin.headers)
    assert [(user["email"], user["role"], user["is_active"]) for user in bob.json()] == [
        ("bob@example.com", "member", True)
    ]
    assert await emails(client, admin, email_prefix="AN") == ["ann@example.com", "an_x@example.com"]
    assert await emails(client, admin, email_prefix="an_") == ["an_x@example.com"]  # _ is not a wildcard
    assert await emails(client, admin, role="admin") == ["root@example.com"]
    assert await emails(client, admin, is_active="false") == []
    assert await emails(client, admin, limit="2", offset="1") == ["ann@example.com", "an_x@example.com"]


async def test_a_walk_by_after_id_skips_no_account_while_accounts_are_deleted(
    client: AsyncClient, make_account: Callable[[str], Awaitable[Account]], admin: Account
) -> None:
    for number in range(5):
        await make_account(f"user{number}@example.com")
    everyone = await emails(client, admin, limit="100")

    async def delete_the_first(page: list[dict[str, Any]]) -> None:
        deleted = await client.delete(f"/api/v1/admin/users/{page[0]['id']}", headers=admin.headers)
        assert deleted.status_code in (204, 409)  # 409: the admin itself, the last active one

    walked = await walk_by_id(client, "/api/v1/admin/users", admin, delete_the_first)
    assert [user["email"] for user in walked] == everyone


async def test_an_account_is_read_by_id(client: AsyncClient, account: Account, admin: Account) -> None:
    user_id = await user_id_of(client, account)
    response = await client.get(f"/api/v1/admin/users/{user_id}", headers=admin.headers)
    assert response.json() | {"created_at": None} == {
        "id": user_id,
        "email": account.email,
        "role": "member",
        "is_active": True,
        "email_verified": False,
        "two_factor_enabled": False,
        "created_at": None,
    }
    missing = await client.get("/api/v1/admin/users/999999", headers=admin.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(client: AsyncClient, admin: Account) -> None:
    admin_id = await user_id_of(client, admin)
    for change in ({"role": "member"}, {"is_active": False}):
        response = await client.patch(f"/api/v1/admin/users/{admin_id}", json=change, headers=admin.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (409, "conflict")
    assert (await client.get("/api/v1/admin/users", headers=admin.headers)).status_code == 200  # still an admin


async def test_an_admin_steps_down_once_another_admin_exists(
    client: AsyncClient, account: Account, admin: Account
) -> None:
    member_id, admin_id = await user_id_of(client, account), await user_id_of(client, admin)
    await client.patch(f"/api/v1/admin/users/{member_id}", json={"role": "admin"}, headers=admin.headers)
    response = await client.patch(f"/api/v1/admin/users/{admin_id}", json={"role": "member"}, headers=admin.headers)
    assert (response.status_code, response.json()["role"]) == (200, "member")


@pytest.mark.parametrize(("removal", "done"), [("demote", 200), ("delete", 204)])
async def test_two_admins_removing_each_other_at_once_leave_one_admin(
    client: AsyncClient, account: Account, admin: Account, removal: str, done: int
) -> None:
    member_id, admin_id = await user_id_of(client, account), await user_id_of(client, admin)
    await client.patch(f"/api/v1/admin/users/{member_id}", json={"role": "admin"}, headers=admin.headers)
    second_admin = {"Authorization": f"Bearer {(await log_in(client, account.email))['access_token']}"}

    def remove(user_id: int, headers: dict[str, str]) -> Awaitable[Response]:
        url = f"/api/v1/admin/users/{user_id}"
        if removal == "demote":
            return client.patch(url, json={"role": "member"}, headers=headers)
        return client.delete(url, headers=headers)

    responses = await asyncio.gather(remove(member_id, admin.headers), remove(admin_id, second_admin))
    # The loser gets 409, 401 when the winner had already removed it (ending its sessions), or 403
    # when the winner's change committed while the loser's request was on its way.
    assert sorted(response.status_code for response in responses) in ([done, 401], [done, 403], [done, 409])
    admin_lists = []
    for headers in (admin.headers, second_admin):
        response = await client.get("/api/v1/admin/users", params={"role": "admin"}, headers=headers)
        if response.status_code == 200:
            admin_lists.append(response.json())
    assert [len(admins) for admins in admin_lists] == [1]


async def test_an_admin_demoted_while_their_request_waits_is_refused(
    client: AsyncClient, account: Account, admin: Account, app_context: AppContext, settings: Settings
) -> None:
    """Their role was checked when the request began; the change itself checks it again."""
    skip_unless_row_locks(settings)
    member_id, admin_id = await user_id_of(client, account), await user_id_of(client, admin)
    async with app_context.database.engine.connect() as other_admin:
        demotion = text("UPDATE users SET role = 'member' WHERE id = :admin")
        await other_admin.execute(demotion, {"admin": admin_id})
        url = f"/api/v1/admin/users/{member_id}"
        deactivation = asyncio.create_task(client.patch(url, json={"is_active": False}, headers=admin.headers))
        await until_a_statement_waits_on_a_lock(app_context, "SELECT users.id")
        await other_admin.commit()
    response = await deactivation

    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200


async def test_an_unchanged_patch_keeps_the_sessions(client: AsyncClient, account: Account, admin: Account) -> None:
    user_id = await user_id_of(client, account)
    same = {"role": "member", "is_active": True}
    assert (await client.patch(f"/api/v1/admin/users/{user_id}", json=same, headers=admin.headers)).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200
