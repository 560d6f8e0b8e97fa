"""Deleting an account: by its owner (password, and a code with two-factor login) or by an admin.

What the account owned goes with it, its tokens stop working at once, the owner is told by
e-mail, and the audit log keeps the account's id.
"""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select, text

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import AuditEvent, Item, LoginSession
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import (
    PASSWORD,
    WRONG_PASSWORD,
    Account,
    Clock,
    Mailbox,
    skip_unless_row_locks,
    until_a_statement_waits_on_a_lock,
)
from .test_admin import user_id_of
from .test_two_factor import enrol

DELETE = "/api/v1/users/me/delete"


async def owned_rows(app_context: AppContext, user_id: int) -> tuple[int, int]:
    """The user's items and login sessions still in the database."""
    async with app_context.database.sessions() as session:
        items = await session.scalar(select(func.count()).select_from(Item).where(Item.owner_id == user_id))
        sessions = await session.scalar(
            select(func.count()).select_from(LoginSession).where(LoginSession.user_id == user_id)
        )
    return items or 0, sessions or 0


async def recorded(app_context: AppContext, action: str) -> list[tuple[int | None, str | None, str]]:
    """The actor, target and outcome of each `action` event, oldest first."""
    async with app_context.database.sessions() as session:
        events = await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(event.actor_id, event.target_id, event.outcome) for event in events]


async def test_a_member_deletes_their_account_with_the_password(
    client: AsyncClient, account: Account, app_context: AppContext, mailbox: Mailbox
) -> None:
    user_id = await user_id_of(client, account)
    assert (await client.post("/api/v1/items", json={"title": "mine"}, headers=account.headers)).status_code == 201
    wrong = await client.post(DELETE, json={"password": WRONG_PASSWORD}, headers=account.headers)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_credentials")

    response = await client.post(DELETE, json={"password": PASSWORD}, headers=account.headers)

    assert response.status_code == 204, response.text
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401
    assert await recorded(app_context, "auth.refresh_token_reuse") == []  # a gone token, not a stolen one
    login = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert login.status_code == 401
    assert await owned_rows(app_context, user_id) == (0, 0)
    assert mailbox.last_to(account.email)["Subject"].startswith("Your account is deleted")
    assert await recorded(app_context, "user.delete") == [
        (None, str(user_id), "failure"),
        (user_id, str(user_id), "success"),
    ]
    # The address is free again.
    again = await client.post("/api/v1/auth/register", json={"email": account.email, "password": PASSWORD})
    assert again.status_code == 201


async def test_with_two_factor_login_on_deleting_also_needs_a_code(
    client: AsyncClient, verified_account: Account, clock: Clock, app_context: AppContext
) -> None:
    enrolled = await enrol(client, verified_account, clock)
    user_id = await user_id_of(client, verified_account)
    headers = verified_account.headers
    without_code = await client.post(DELETE, json={"password": PASSWORD}, headers=headers)
    assert without_code.status_code == 401

    response = await client.post(DELETE, json={"password": PASSWORD, "code": enrolled.code()}, headers=headers)

    assert response.status_code == 204, response.text
    # The missing code is a failed deletion, not a failed login step.
    assert await recorded(app_context, "user.delete") == [
        (None, str(user_id), "failure"),
        (user_id, str(user_id), "success"),
    ]
    assert await recorded(app_context, "auth.second_factor") == []


async def test_a_deleted_accounts_id_is_never_given_to_a_new_one(client: AsyncClient, account: Account) -> None:
    """The audit log names users by id: a new account must not inherit a deleted one's history."""
    deleted_id = await user_id_of(client, account)
    assert (await client.post(DELETE, json={"password": PASSWORD}, headers=account.headers)).status_code == 204
    again = await client.post("/api/v1/auth/register", json={"email": "new@example.com", "password": PASSWORD})
    assert again.status_code == 201, again.text
    assert again.json()["id"] > deleted_id


async def test_an_admin_account_is_deleted_by_another_admin(client: AsyncClient, admin: Account) -> None:
    response = await client.post(DELETE, json={"password": PASSWORD}, headers=admin.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "conflict")
    admin_id = await user_id_of(client, admin)
    last = await client.delete(f"/api/v1/admin/users/{admin_id}", headers=admin.headers)
    assert (last.status_code, last.json()["error"]["code"]) == (409, "conflict")  # the last active admin
    assert (await client.get("/api/v1/users/me", headers=admin.headers)).status_code == 200


async def test_an_admin_deletes_an_account(
    client: AsyncClient, account: Account, admin: Account, app_context: AppContext, mailbox: Mailbox
) -> None:
    user_id = await user_id_of(client, account)
    admin_id = await user_id_of(client, admin)
    url = f"/api/v1/admin/users/{user_id}"
    assert (await client.delete(url, headers=account.headers)).status_code == 403

    response = await client.delete(url, headers=admin.headers)

    assert response.status_code == 204, response.text
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 401
    assert (await client.get(url, headers=admin.headers)).status_code == 404
    assert (await client.delete(url, headers=admin.headers)).status_code == 404
    assert await owned_rows(app_context, user_id) == (0, 0)
    assert mailbox.last_to(account.email)["Subject"].startswith("Your account is deleted")
    assert await recorded(app_context, "admin.delete_user") == [(admin_id, str(user_id), "success")]


async def test_a_deletion_waits_for_a_refresh_of_the_account_instead_of_deadlocking(
    client: AsyncClient, account: Account, app_context: AppContext, settings: Settings
) -> None:
    """A refresh locks its token, then writes a new one, which needs the user's row; a deletion
    that took the user's row first would wait for the token: one of them failed with a 500."""
    skip_unless_row_locks(settings)
    user_id = await user_id_of(client, account)
    async with app_context.database.engine.connect() as refresh:
        token = text("SELECT session_id, jti FROM refresh_tokens WHERE user_id = :user")
        session_id, jti = (await refresh.execute(token, {"user": user_id})).one()
        await refresh.execute(text("UPDATE refresh_tokens SET used_at = now() WHERE jti = :jti"), {"jti": jti})
        deletion = asyncio.create_task(client.post(DELETE, json={"password": PASSWORD}, headers=account.headers))
        await until_a_statement_waits_on_a_lock(app_context, "DELETE FROM")
        await refresh.execute(text("SET LOCAL lock_timeout = '5s'"))
        await refresh.execute(
            text(
                "INSERT INTO refresh_tokens (jti, session_id, user_id, expires_at, created_at) "
                "VALUES ('next', :session, :user, now() + interval '1 day', now())"
            ),
            {"session": session_id, "user": user_id},
        )
        await refresh.commit()
    response = await deletion

    assert response.status_code == 204, response.text
    assert await owned_rows(app_context, user_id) == (0, 0)


async def test_an_item_created_while_the_account_is_deleted_gets_a_401_like_the_next_request(
    client: AsyncClient, account: Account, app_context: AppContext, settings: Settings
) -> None:
    """The request was authenticated before the deletion committed, and its insert then broke the
    items' foreign key: that was a 500."""
    skip_unless_row_locks(settings)
    user_id = await user_id_of(client, account)
    async with app_context.database.engine.connect() as deletion:
        await deletion.execute(text("DELETE FROM users WHERE id = :user"), {"user": user_id})
        creation = asyncio.create_task(client.post("/api/v1/items", json={"title": "late"}, headers=account.headers))
        await until_a_statement_waits_on_a_lock(app_context, "INSERT INTO items")
        await deletion.commit()
    response = await creation

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated"), response.text
    assert await owned_rows(app_context, user_id) == (0, 0)
