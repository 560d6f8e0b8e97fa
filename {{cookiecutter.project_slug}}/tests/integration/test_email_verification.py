"""E-mail verification: the link sent at registration, resending it, and the routes that need it."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import pytest
from httpx import AsyncClient

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import Account, Mailbox, token_from

VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"


async def is_verified(client: AsyncClient, account: Account) -> bool:
    response = await client.get("/api/v1/users/me", headers=account.headers)
    verified: bool = response.json()["email_verified"]
    return verified


async def test_registration_sends_a_link_that_verifies_the_address(
    client: AsyncClient, account: Account, mailbox: Mailbox
) -> None:
    assert not await is_verified(client, account)
    message = mailbox.last_to(account.email)
    assert "confirm your e-mail address" in message["Subject"].lower()

    response = await client.post(VERIFY, json={"token": token_from(message)})

    assert response.status_code == 204, response.text
    assert await is_verified(client, account)


async def test_a_verification_link_works_once(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    token = token_from(mailbox.last_to(account.email))
    assert (await client.post(VERIFY, json={"token": token})).status_code == 204

    again = await client.post(VERIFY, json={"token": token})

    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_token"


async def test_a_reset_token_does_not_verify(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    assert (await client.post("/api/v1/auth/password-reset", json={"email": account.email})).status_code == 202
    reset_token = token_from(mailbox.last_to(account.email))

    assert (await client.post(VERIFY, json={"token": reset_token})).status_code == 400
    assert not await is_verified(client, account)


async def test_resending_sends_a_new_link(client: AsyncClient, account: Account, mailbox: Mailbox) -> None:
    first = token_from(mailbox.last_to(account.email))

    response = await client.post(RESEND, headers=account.headers)

    assert response.status_code == 202
    second = token_from(mailbox.last_to(account.email))
    assert second != first
    assert (await client.post(VERIFY, json={"token": second})).status_code == 204


async def test_the_request_s_database_connection_is_back_in_the_pool_before_its_mail_goes_out(
    client: AsyncClient, account: Account, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mail is delivered after the response; a slow mail server must not keep the request's
    # connection out of the pool (on PostgreSQL, idle in a transaction) all that time.
    in_use_while_delivering: list[int] = []
    deliver = app_context.mailer.deliver

    async def delivering(message: EmailMessage) -> None:
        in_use_while_delivering.append(app_context.database.pool_stats()["in_use"])
        await deliver(message)

    monkeypatch.setattr(app_context.mailer, "deliver", delivering)

    assert (await client.post(RESEND, headers=account.headers)).status_code == 202
    assert in_use_while_delivering == [0]


async def test_nothing_is_resent_once_verified(
    client: AsyncClient, verified_account: Account, mailbox: Mailbox
) -> None:
    sent = len(mailbox.messages)
    assert (await client.post(RESEND, headers=verified_account.headers)).status_code == 202
    assert len(mailbox.messages) == sent


class TestResendLimit:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(email_rate_limit_per_address="2/hour")

    async def test_resending_is_rate_limited(self, client: AsyncClient, account: Account) -> None:
        # Registration sent the first of the two mails the address gets an hour.
        statuses = [(await client.post(RESEND, headers=account.headers)).status_code for _ in range(2)]
        assert statuses == [202, 429]
