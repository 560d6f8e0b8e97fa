"""Registration, login, refresh rotation with reuse detection, rate limiting and lockout."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from fastapi import BackgroundTasks, FastAPI
from httpx import ASGITransport, AsyncClient, Response
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.core.exceptions import InvalidCredentialsError
from {{ cookiecutter.package_name }}.core.security import PasswordHasher
from {{ cookiecutter.package_name }}.db.models import User
from {{ cookiecutter.package_name }}.db.repositories import UserRepository
from {{ cookiecutter.package_name }}.mail import Outbox
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.services.audit import AuditTrail, Origin
from {{ cookiecutter.package_name }}.services.auth import (
    CREDENTIALS_CHANGED_MEANWHILE,
    AuthService,
)
from {{ cookiecutter.package_name }}.services.two_factor import TwoFactorService
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import (
    CLIENT_ADDRESS,
    NEW_PASSWORD,
    PASSWORD,
    WRONG_PASSWORD,
    Account,
    Mailbox,
    full_width,
    log_in,
    run_by_another_request,
    skip_unless_row_locks,
    token_from,
    until_a_statement_waits_on_a_lock,
)
from .test_account_deletion import recorded
from .test_admin import user_id_of
from .test_password_reset import connection_closed

OTHER_ADDRESS = "ada@example.org"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(login_rate_limit="4/minute", login_lockout_threshold=3)


async def register(client: AsyncClient, email: str, password: str = PASSWORD) -> tuple[int, dict[str, object]]:
    response = await client.post("/api/v1/auth/register", json={"email": email, "password": password})
    return response.status_code, response.json()


async def test_register_returns_the_account_without_any_password(client: AsyncClient) -> None:
    status, body = await register(client, "Ada@Example.com")
    assert status == 201
    assert set(body) == {"id", "email", "role", "email_verified", "two_factor_enabled", "created_at"}
    assert (body["email"], body["role"]) == ("ada@example.com", "member")


async def test_register_refuses_a_taken_email(client: AsyncClient) -> None:
    await register(client, "ada@example.com")
    status, body = await register(client, "ADA@example.com")
    assert status == 409
    assert body["error"]["code"] == "conflict"  # type: ignore[index]


@pytest.mark.parametrize(
    ("email", "password", "location"),
    [
        ("ada@example.com", "too short", ["body", "password"]),
        ("ada@example.com", "password1234", ["body", "password"]),
        ("not-an-email", PASSWORD, ["body", "email"]),
    ],
)
async def test_register_refuses_weak_passwords_and_bad_emails(
    client: AsyncClient, email: str, password: str, location: list[str]
) -> None:
    status, body = await register(client, email, password)
    assert status == 422
    error = body["error"]
    assert error["code"] == "validation_error"  # type: ignore[index]
    assert error["details"][0]["loc"] == location  # type: ignore[index]
    assert password not in str(body)  # the rejected input is never echoed


async def test_login_returns_a_bearer_token_pair(client: AsyncClient, account: Account) -> None:
    tokens = await log_in(client, "ADA@example.com ")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["email"] == account.email


@pytest.mark.parametrize(
    ("registered", "typed"),
    [
        # Chromium sends a type=email field with an internationalised domain in punycode.
        ("ada@bücher.example", "ada@xn--bcher-kva.example"),
        # macOS and iOS keyboards may send an accent as a separate combining character.
        (unicodedata.normalize("NFC", "josé@example.com"), unicodedata.normalize("NFD", "josé@example.com")),
        ("ada@example.com", f"ada@{full_width('example')}.com"),
    ],
    ids=["punycode-domain", "decomposed-accent", "full-width-domain"],
)
async def test_login_normalises_the_address_as_registration_does(
    client: AsyncClient, registered: str, typed: str
) -> None:
    status, body = await register(client, registered)
    assert status == 201
    tokens = await log_in(client, f" {typed} ")
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["email"] == body["email"]


@pytest.mark.parametrize("charset", ["utf-8", "us-ascii", "iso-8859-1"])
async def test_register_refuses_an_address_with_an_encoded_word(
    client: AsyncClient, mailbox: Mailbox, charset: str
) -> None:
    """Mail programs decode "=?utf-8?q?mallory?=" in the To header: the link would reach mallory@example.com."""
    status, body = await register(client, f"=?{charset}?q?mallory?=@example.com")
    assert status == 422
    error = body["error"]
    assert error["code"] == "validation_error"  # type: ignore[index]
    assert error["details"][0]["loc"] == ["body", "email"]  # type: ignore[index]
    assert '"=?"' in error["details"][0]["msg"]  # type: ignore[index]
    assert mailbox.messages == []


async def test_a_password_is_the_same_whether_accents_are_composed_or_not(client: AsyncClient) -> None:
    composed = unicodedata.normalize("NFC", "crème brûlée à la carte")
    status, _ = await register(client, "chef@example.com", composed)
    assert status == 201
    await log_in(client, "chef@example.com", unicodedata.normalize("NFD", composed))
    await log_in(client, "chef@example.com", composed)


async def test_a_hash_of_a_password_stored_before_normalising_still_logs_in_and_is_replaced(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    decomposed = unicodedata.normalize("NFD", "crème brûlée à la carte")
    # What an earlier release stored: the hash of the password as typed.
    hashed_as_typed = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)).hash(decomposed)
    async with app_context.database.sessions() as session:
        await session.execute(update(User).values(password_hash=hashed_as_typed))
        await session.commit()

    await log_in(client, account.email, decomposed)

    async with app_context.database.sessions() as session:
        stored = (await session.execute(select(User.password_hash))).scalar_one()
    assert stored != hashed_as_typed
    assert PasswordHash((Argon2Hasher(),)).verify(unicodedata.normalize("NFKC", decomposed), stored)
    await log_in(client, account.email, unicodedata.normalize("NFC", decomposed))  # the form others type


async def test_right_passwords_sent_at_once_after_the_hashing_cost_was_raised_all_log_in(
    client: AsyncClient, account: Account, app_context: AppContext, settings: Settings
) -> None:
    """Each login checked the hash made with the earlier parameters; the first stored the new one,
    and the others, finding the hash changed, were refused as if the password were wrong."""
    skip_unless_row_locks(settings)
    earlier = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=8, parallelism=1),)).hash(PASSWORD)
    user_id = await user_id_of(client, account)
    async with app_context.database.sessions() as session:
        await session.execute(update(User).where(User.id == user_id).values(password_hash=earlier))
        await session.commit()
    async with app_context.database.engine.connect() as holder:
        await holder.execute(text("SELECT id FROM users WHERE id = :user FOR NO KEY UPDATE"), {"user": user_id})
        body = {"username": account.email, "password": PASSWORD}
        logins = [asyncio.create_task(client.post("/api/v1/auth/token", data=body)) for _ in range(2)]
        await until_a_statement_waits_on_a_lock(app_context, "UPDATE users", count=2)
        await holder.commit()

    assert [(await login).status_code for login in logins] == [200, 200]
    async with app_context.database.sessions() as session:
        stored = await session.scalar(select(User.password_hash).where(User.id == user_id))
    assert stored != earlier


@pytest.mark.parametrize(("email", "password"), [("ada@example.com", WRONG_PASSWORD), ("nobody@example.com", PASSWORD)])
async def test_login_refuses_bad_credentials_alike(
    client: AsyncClient, account: Account, email: str, password: str
) -> None:
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_credentials"


async def test_login_refuses_deactivated_accounts(
    client: AsyncClient, account: Account, app_context: AppContext
) -> None:
    async with app_context.database.sessions() as session:
        await session.execute(update(User).values(is_active=False))
        await session.commit()
    response = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert response.status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(client: AsyncClient, account: Account) -> None:
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != account.refresh_token
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.status_code == 200

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reused.status_code == 401
    assert "already used" in reused.json()["error"]["message"]
    # The reuse revoked the whole family, including the newest token.
    newest = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert newest.status_code == 401


async def test_other_logins_keep_their_own_family(client: AsyncClient, account: Account) -> None:
    other_session = await log_in(client, account.email)
    await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})  # reuse
    still_valid = await client.post("/api/v1/auth/refresh", json={"refresh_token": other_session["refresh_token"]})
    assert still_valid.status_code == 200


@pytest.mark.parametrize("token", ["garbage", "access"])
async def test_refresh_accepts_only_refresh_tokens(client: AsyncClient, account: Account, token: str) -> None:
    presented = account.access_token if token == "access" else token
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": presented})
    assert response.status_code == 401


async def test_login_attempts_per_account_and_ip_are_rate_limited(client: AsyncClient, account: Account) -> None:
    # The fixture's login was attempt 1 of 4 per minute.
    for _ in range(3):
        assert (
            await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
        ).status_code == 200
    response = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_guesses_sent_at_once_are_held_to_the_lockout(app: FastAPI, account: Account) -> None:
    # Each guess from an address of its own: only the lockout, not the rate per address, stops them.
    clients = [
        AsyncClient(transport=ASGITransport(app=app, client=(f"198.51.100.{number}", 5000)), base_url="http://test")
        for number in range(1, 13)
    ]
    guesses = [
        guesser.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
        for guesser in clients
    ]
    statuses = sorted(response.status_code for response in await asyncio.gather(*guesses))
    for guesser in clients:
        await guesser.aclose()

    assert statuses == [401] * 3 + [429] * 9


class PasswordCheckHeldOpen(PasswordHasher):
    """The app's hashing, but a verification, once done, waits until the test lets it go on."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.checked = asyncio.Event()
        self.go_on = asyncio.Event()

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        verdict = await super().verify(password, password_hash)
        self.checked.set()
        await self.go_on.wait()
        return verdict


def auth_service(session: AsyncSession, context: AppContext, passwords: PasswordHasher) -> AuthService:
    """The service as the API builds it, with `passwords` in place of the app's hashing."""
    audit = AuditTrail(session, Origin())
    outbox = Outbox(context.mailer, BackgroundTasks())
    two_factor = TwoFactorService(session, context.totp_secrets, audit, outbox)
    guard, mfa_ttl = context.login_guard, timedelta(minutes=5)
    return AuthService(session, passwords, context.tokens, guard, audit, two_factor, outbox, Origin(), mfa_ttl)


async def test_guesses_sent_at_once_that_lock_the_account_record_one_lockout(
    account: Account, app_context: AppContext, settings: Settings
) -> None:
    """Every guess was counted before any of them failed: each failure found the account locked and
    recorded a lockout of its own."""
    hashers = [PasswordCheckHeldOpen(settings) for _ in range(settings.login_lockout_threshold)]
    async with AsyncExitStack() as stack:
        guesses = []
        for hasher in hashers:
            session = await stack.enter_async_context(app_context.database.sessions())
            login = auth_service(session, app_context, hasher).login(account.email, WRONG_PASSWORD)
            guesses.append(asyncio.create_task(login))
        for hasher in hashers:
            await hasher.checked.wait()  # every guess counted: the account is locked
        for hasher in hashers:
            hasher.go_on.set()
        failures = await asyncio.gather(*guesses, return_exceptions=True)

    assert all(isinstance(failure, InvalidCredentialsError) for failure in failures), failures
    assert len(await recorded(app_context, "auth.lockout")) == 1


async def change_by_the_owner(client: AsyncClient, account: Account, mailbox: Mailbox) -> int:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return (await client.post("/api/v1/users/me/password", json=body, headers=account.headers)).status_code


async def reset_by_link(client: AsyncClient, account: Account, mailbox: Mailbox) -> int:
    await client.post("/api/v1/auth/password-reset", json={"email": account.email})
    body = {"token": token_from(mailbox.last_to(account.email)), "new_password": NEW_PASSWORD}
    return (await client.post("/api/v1/auth/password-reset/confirm", json=body)).status_code


@pytest.mark.parametrize("new_password", [change_by_the_owner, reset_by_link])
async def test_a_password_replaced_while_a_login_checks_it_ends_that_login(
    client: AsyncClient,
    account: Account,
    mailbox: Mailbox,
    app_context: AppContext,
    settings: Settings,
    new_password: Callable[[AsyncClient, Account, Mailbox], Awaitable[int]],
) -> None:
    passwords = PasswordCheckHeldOpen(settings)
    async with app_context.database.sessions() as session:
        login = asyncio.create_task(auth_service(session, app_context, passwords).login(account.email, PASSWORD))
        await passwords.checked.wait()  # the old password was found right

        assert await new_password(client, account, mailbox) == 204
        passwords.go_on.set()

        with pytest.raises(InvalidCredentialsError):
            await login
    assert "access_token" in await log_in(client, account.email, NEW_PASSWORD)


async def change_password(client: AsyncClient, account: Account) -> Response:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return await client.post("/api/v1/users/me/password", json=body, headers=account.headers)


async def change_address(client: AsyncClient, account: Account) -> Response:
    body = {"new_email": OTHER_ADDRESS, "password": PASSWORD}
    return await client.post("/api/v1/users/me/email", json=body, headers=account.headers)


@pytest.mark.parametrize("change", [change_password, change_address])
async def test_a_change_checked_against_a_password_replaced_meanwhile_is_refused(
    client: AsyncClient,
    account: Account,
    app_context: AppContext,
    mailbox: Mailbox,
    change: Callable[[AsyncClient, Account], Awaitable[Response]],
) -> None:
    """An admin requires a new password (or the owner resets it) after the request checked the old
    one, before the request writes: whoever knew the old password gains nothing."""
    replaced = update(User).where(User.email == account.email).values(password_hash="replaced meanwhile")
    engine = app_context.database.engine.sync_engine
    with run_by_another_request(engine, replaced, when="UPDATE users SET password_hash"):
        response = await change(client, account)

    assert (response.status_code, response.json()["error"]["message"]) == (401, CREDENTIALS_CHANGED_MEANWHILE)
    async with app_context.database.sessions() as session:
        stored = await session.scalar(select(User.password_hash).where(User.email == account.email))
    assert stored == "replaced meanwhile"
    assert OTHER_ADDRESS not in [message["To"] for message in mailbox.messages]


async def test_repeated_failures_lock_the_account(client: AsyncClient, account: Account) -> None:
    for _ in range(3):
        failed = await client.post("/api/v1/auth/token", data={"username": account.email, "password": WRONG_PASSWORD})
        assert failed.status_code == 401
    locked = await client.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    assert int(locked.headers["retry-after"]) > 60
    metrics = (await client.get("/metrics")).text.splitlines()
    (counted,) = [line for line in metrics if line.startswith('login_attempts_rejected_total{reason="account_locked"}')]
    assert float(counted.split()[-1]) >= 1


@pytest.fixture
def app_with_one_connection(settings: Settings) -> FastAPI:
    """An app whose pool holds a single connection, given up on after 0.1 s."""
    one = {"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout_seconds": 0.1}
    return create_app(settings.model_copy(update=one))


async def test_logins_the_database_could_not_answer_do_not_lock_the_account(
    app_with_one_connection: FastAPI, settings: Settings
) -> None:
    app = app_with_one_connection
    transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with app.router.lifespan_context(app), AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await register(client, "outage@example.com"))[0] == 201
        async with app.state.context.database.engine.connect():  # takes the only connection: the database is out
            for _ in range(settings.login_lockout_threshold):
                response = await client.post(
                    "/api/v1/auth/token", data={"username": "outage@example.com", "password": PASSWORD}
                )
                assert response.status_code == 503, response.text
        await log_in(client, "outage@example.com")


async def test_logins_the_database_failed_after_the_right_password_do_not_lock_the_account(
    client: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a failover to a read-only standby: the password checks out, the write fails."""
    assert (await register(client, "failover@example.com"))[0] == 201

    async def unavailable(self: UserRepository, user: User, new_hash: str | None) -> bool:
        raise connection_closed(user.email)

    with monkeypatch.context() as patch:
        patch.setattr(UserRepository, "hold_password", unavailable)
        for _ in range(settings.login_lockout_threshold):
            response = await client.post(
                "/api/v1/auth/token", data={"username": "failover@example.com", "password": PASSWORD}
            )
            assert response.status_code == 503, response.text
    await log_in(client, "failover@example.com")


async def test_a_login_hands_its_connection_back_while_the_password_is_hashed(
    app_with_one_connection: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing takes tens of milliseconds: a flood of logins must not hold every connection meanwhile."""
    app = app_with_one_connection
    context: AppContext = app.state.context
    verify = context.passwords.verify

    async def verify_while_another_request_queries(password: str, password_hash: str | None) -> tuple[bool, str | None]:
        async with context.database.engine.connect() as other:  # the pool's only connection
            await other.execute(text("SELECT 1"))
        return await verify(password, password_hash)

    transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with app.router.lifespan_context(app), AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await register(client, "flood@example.com"))[0] == 201
        monkeypatch.setattr(context.passwords, "verify", verify_while_another_request_queries)
        await log_in(client, "flood@example.com")
