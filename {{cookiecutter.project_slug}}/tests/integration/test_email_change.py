"""Changing the e-mail address: asked for with the password (and a code with two-factor login),
done when the link sent to the new address is followed, told to the old address."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import (
    PASSWORD,
    WRONG_PASSWORD,
    Account,
    Clock,
    Mailbox,
    skip_unless_row_locks,
    text_part,
    token_from,
    until_a_statement_waits_on_a_lock,
)
from .test_account_deletion import recorded
from .test_admin import user_id_of
from .test_password_reset import CONFIRM as RESET_CONFIRM
from .test_password_reset import OTHER_PASSWORD, reset_link_token
from .test_two_factor import enrol

CHANGE = "/api/v1/users/me/email"
CONFIRM = "/api/v1/auth/email-change/confirm"
NEW_EMAIL = "ada@example.org"


async def email_of(client: AsyncClient, account: Account) -> tuple[str, bool]:
    """The account's address and whether it is verified."""
    me = (await client.get("/api/v1/users/me", headers=account.headers)).json()
    return me["email"], me["email_verified"]


async def can_log_in(client: AsyncClient, email: str, password: str = PASSWORD) -> bool:
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    return response.status_code == 200


async def ask(client: AsyncClient, account: Account, new_email: str = NEW_EMAIL, **confirmation: str) -> int:
    body = {"new_email": new_email, "password": PASSWORD, **confirmation}
    return (await client.post(CHANGE, json=body, headers=account.headers)).status_code


async def test_the_address_changes_when_the_link_sent_to_it_is_followed(
    client: AsyncClient, account: Account, app_context: AppContext, mailbox: Mailbox
) -> None:
    user_id = await user_id_of(client, account)
    assert await ask(client, account, new_email="Ada@Example.ORG") == 202
    message = mailbox.last_to(NEW_EMAIL)
    assert message["Subject"].startswith("Confirm your new e-mail address")
    assert "/confirm-email-change?token=" in text_part(message)
    # Until the link is followed, nothing changes.
    assert await email_of(client, account) == (account.email, False)
    assert not await can_log_in(client, NEW_EMAIL)

    response = await client.post(CONFIRM, json={"token": token_from(message)})

    assert response.status_code == 204, response.text
    assert await email_of(client, account) == (NEW_EMAIL, True)  # the session goes on; the link verified it
    assert await can_log_in(client, NEW_EMAIL)
    assert not await can_log_in(client, account.email)
    assert mailbox.last_to(account.email)["Subject"].startswith("Your e-mail address was changed")
    assert await recorded(app_context, "user.email_change_request") == [(user_id, str(user_id), "success")]
    assert await recorded(app_context, "user.email_change") == [(user_id, str(user_id), "success")]
    again = await client.post(CONFIRM, json={"token": token_from(message)})
    assert (again.status_code, again.json()["error"]["code"]) == (400, "invalid_token")


async def test_a_new_address_with_an_encoded_word_is_refused(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    """Mail programs decode "=?utf-8?q?mallory?=" in the To header: the link would reach mallory@example.com."""
    body = {"new_email": "=?utf-8?q?mallory?=@example.com", "password": PASSWORD}
    response = await client.post(CHANGE, json=body, headers=account.headers)
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["loc"] == ["body", "new_email"]
    assert '"=?"' in detail["msg"]
    assert mailbox.to("mallory@example.com") == []


@pytest.mark.parametrize("how", ["changed", "reset"])
async def test_a_new_password_spends_a_pending_address_change(
    client: AsyncClient, account: Account, mailbox: Mailbox, how: str
) -> None:
    """Whoever knew the old password cannot move the account after its owner took it back."""
    assert await ask(client, account) == 202
    change_link = token_from(mailbox.last_to(NEW_EMAIL))
    if how == "changed":
        body = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}
        changed = await client.post("/api/v1/users/me/password", json=body, headers=account.headers)
        assert changed.status_code == 204, changed.text
    else:
        reset_link = await reset_link_token(client, mailbox, account.email)
        reset = await client.post(RESET_CONFIRM, json={"token": reset_link, "new_password": OTHER_PASSWORD})
        assert reset.status_code == 204, reset.text

    response = await client.post(CONFIRM, json={"token": change_link})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_token")
    assert not await can_log_in(client, NEW_EMAIL, OTHER_PASSWORD)


@pytest.mark.parametrize("how", ["deactivated", "sessions revoked"])
async def test_an_admin_stopping_the_account_spends_a_pending_address_change(
    client: AsyncClient, account: Account, admin: Account, mailbox: Mailbox, how: str
) -> None:
    """The compromised-account runbook's first step also stops the link an intruder asked for."""
    assert await ask(client, account) == 202
    change_link = token_from(mailbox.last_to(NEW_EMAIL))
    user = f"/api/v1/admin/users/{await user_id_of(client, account)}"
    if how == "deactivated":
        for is_active in (False, True):
            response = await client.patch(user, json={"is_active": is_active}, headers=admin.headers)
            assert response.status_code == 200, response.text
    else:
        response = await client.post(f"{user}/revoke-sessions", headers=admin.headers)
        assert response.status_code == 204, response.text

    response = await client.post(CONFIRM, json={"token": change_link})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_token")
    assert await can_log_in(client, account.email)


async def test_a_new_address_spends_the_reset_links_mailed_to_the_old_one(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    reset_link = await reset_link_token(client, mailbox, account.email)
    assert await ask(client, account) == 202
    assert (await client.post(CONFIRM, json={"token": token_from(mailbox.last_to(NEW_EMAIL))})).status_code == 204

    response = await client.post(RESET_CONFIRM, json={"token": reset_link, "new_password": OTHER_PASSWORD})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_token")
    assert await can_log_in(client, NEW_EMAIL)


async def test_a_wrong_password_is_refused_and_counted(
    client: AsyncClient, account: Account, app_context: AppContext, mailbox: Mailbox
) -> None:
    body = {"new_email": NEW_EMAIL, "password": WRONG_PASSWORD}
    response = await client.post(CHANGE, json=body, headers=account.headers)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_credentials")
    assert mailbox.to(NEW_EMAIL) == []
    user_id = await user_id_of(client, account)
    assert await recorded(app_context, "user.email_change_request") == [(None, str(user_id), "failure")]


async def test_with_two_factor_login_on_a_code_is_needed_too(
    client: AsyncClient, verified_account: Account, clock: Clock
) -> None:
    enrolled = await enrol(client, verified_account, clock)

    assert await ask(client, verified_account) == 401
    assert await ask(client, verified_account, code=enrolled.code()) == 202


async def test_an_address_that_is_yours_or_another_accounts_is_refused(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    other = await client.post("/api/v1/auth/register", json={"email": NEW_EMAIL, "password": PASSWORD})
    assert other.status_code == 201
    mailbox.last_to(NEW_EMAIL)  # its verification link
    mailbox.clear()

    taken = await client.post(CHANGE, json={"new_email": NEW_EMAIL, "password": PASSWORD}, headers=account.headers)
    own = await ask(client, account, new_email=account.email)

    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert own == 409
    assert mailbox.messages == []


class TestMailBudget:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(email_rate_limit_per_client="4/hour")

    async def test_once_the_budget_is_spent_a_taken_address_is_not_told_apart(
        self, client: AsyncClient, account: Account
    ) -> None:
        other = await client.post("/api/v1/auth/register", json={"email": NEW_EMAIL, "password": PASSWORD})
        assert other.status_code == 201
        statuses = [await ask(client, account, new_email=f"free{number}@example.org") for number in range(4)]
        assert statuses[-1] == 429  # registrations and requests share the client's budget

        assert await ask(client, account, new_email=NEW_EMAIL) == 429


async def test_only_the_newest_link_works(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    assert await ask(client, account, new_email="first@example.org") == 202
    first = token_from(mailbox.last_to("first@example.org"))
    assert await ask(client, account) == 202
    newest = token_from(mailbox.last_to(NEW_EMAIL))

    assert (await client.post(CONFIRM, json={"token": first})).status_code == 400
    assert (await client.post(CONFIRM, json={"token": newest})).status_code == 204
    assert (await email_of(client, account))[0] == NEW_EMAIL


async def test_of_two_requests_at_once_only_one_link_works(
    client: AsyncClient, account: Account, app_context: AppContext, mailbox: Mailbox, settings: Settings
) -> None:
    """Each spent the links pending before it, but not the other's, not yet committed: both worked."""
    skip_unless_row_locks(settings)
    user_id = await user_id_of(client, account)
    addresses = ("first@example.org", "second@example.org")
    async with app_context.database.engine.connect() as holder:
        await holder.execute(text("SELECT id FROM users WHERE id = :user FOR UPDATE"), {"user": user_id})
        requests = [
            asyncio.create_task(
                client.post(CHANGE, json={"new_email": address, "password": PASSWORD}, headers=account.headers)
            )
            for address in addresses
        ]
        await until_a_statement_waits_on_a_lock(app_context, "", count=2)
        await holder.commit()
    assert [(await request).status_code for request in requests] == [202, 202]

    links = [token_from(mailbox.last_to(address)) for address in addresses]
    confirmed = [(await client.post(CONFIRM, json={"token": link})).status_code for link in links]
    assert sorted(confirmed) == [204, 400]


async def test_an_address_taken_before_the_link_is_followed_is_a_conflict(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    assert await ask(client, account) == 202
    token = token_from(mailbox.last_to(NEW_EMAIL))
    assert (await client.post("/api/v1/auth/register", json={"email": NEW_EMAIL, "password": PASSWORD})).is_success

    response = await client.post(CONFIRM, json={"token": token})

    assert (response.status_code, response.json()["error"]["code"]) == (409, "conflict")
    assert (await email_of(client, account))[0] == account.email


async def test_a_verification_link_does_not_change_the_address(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    verification_token = token_from(mailbox.last_to(account.email))

    response = await client.post(CONFIRM, json={"token": verification_token})

    assert response.status_code == 400
    assert (await email_of(client, account))[0] == account.email
