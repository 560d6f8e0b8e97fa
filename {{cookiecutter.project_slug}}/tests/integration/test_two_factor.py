"""Two-factor login with TOTP: enrolment, the second login step, recovery codes, replay and lockout."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select, text

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.core.two_factor import SecretBox
from {{ cookiecutter.package_name }}.db.models import AuditEvent, RecoveryCode, User
from {{ cookiecutter.package_name }}.db.repositories import UserRepository
from {{ cookiecutter.package_name }}.services.two_factor import (
    SecretRotation,
    rotate_totp_secrets,
)
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import (
    NEW_PASSWORD,
    PASSWORD,
    TOTP_ENCRYPTION_KEY,
    WRONG_PASSWORD,
    Account,
    Clock,
    Mailbox,
    client_of,
    skip_unless_row_locks,
    text_part,
    token_from,
    until_a_statement_waits_on_a_lock,
)

STATUS = "/api/v1/users/me/2fa"
SETUP = "/api/v1/users/me/2fa/setup"
ENABLE = "/api/v1/users/me/2fa/enable"
DISABLE = "/api/v1/users/me/2fa/disable"
REGENERATE = "/api/v1/users/me/2fa/recovery-codes"
TOKEN = "/api/v1/auth/token"
PASSWORD_CHANGE = "/api/v1/users/me/password"
MFA = "/api/v1/auth/mfa"
CONFIRMED = {"password": PASSWORD}
NEW_TOTP_KEY = "another-key-for-the-totp-secrets-0123456789"


@dataclass
class Enrolled:
    account: Account
    secret: str
    recovery_codes: list[str]
    clock: Clock

    def code(self) -> str:
        """The authenticator's code for the next step (each code is accepted once)."""
        self.clock.advance()
        return pyotp.TOTP(self.secret).at(self.clock.now)


async def enrol(client: AsyncClient, account: Account, clock: Clock) -> Enrolled:
    setup = await client.post(SETUP, headers=account.headers, json=CONFIRMED)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    enabled = await client.post(ENABLE, headers=account.headers, json={"code": pyotp.TOTP(secret).at(clock.now)})
    assert enabled.status_code == 200, enabled.text
    return Enrolled(account, secret, enabled.json()["recovery_codes"], clock)


@pytest.fixture
async def enrolled(client: AsyncClient, verified_account: Account, clock: Clock) -> Enrolled:
    return await enrol(client, verified_account, clock)


async def password_step(client: AsyncClient, email: str) -> str:
    response = await client.post(TOKEN, data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is True
    assert "access_token" not in body
    mfa_token: str = body["mfa_token"]
    return mfa_token


async def second_step(client: AsyncClient, enrolled: Enrolled, code: str) -> Response:
    """Log in with the password, then `code`."""
    mfa_token = await password_step(client, enrolled.account.email)
    return await client.post(MFA, json={"mfa_token": mfa_token, "code": code})


async def test_enrolment_from_verification_link_to_two_factor_login(
    client: AsyncClient, account: Account, mailbox: Mailbox, clock: Clock
) -> None:
    link_token = token_from(mailbox.last_to(account.email))
    verified = await client.post("/api/v1/auth/verify-email", json={"token": link_token})
    assert verified.status_code == 204

    setup = (await client.post(SETUP, headers=account.headers, json=CONFIRMED)).json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    assert pyotp.parse_uri(setup["otpauth_uri"]).secret == setup["secret"]
    assert setup["qr_code_svg"].lstrip().startswith("<svg")
    me = (await client.get("/api/v1/users/me", headers=account.headers)).json()
    assert me["two_factor_enabled"] is False  # not before a code confirms the authenticator

    # A code of the service's clock: a wall-clock code could belong to the next step, and use up
    # the step that clock.advance() moves to below.
    code = pyotp.TOTP(setup["secret"]).at(clock.now)
    enabled = await client.post(ENABLE, headers=account.headers, json={"code": code})
    assert enabled.status_code == 200, enabled.text
    codes = enabled.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert "two-factor authentication is on" in mailbox.last_to(account.email)["Subject"].lower()

    clock.advance()
    mfa_token = await password_step(client, account.email)
    tokens = await client.post(MFA, json={"mfa_token": mfa_token, "code": pyotp.TOTP(setup["secret"]).at(clock.now)})
    assert tokens.status_code == 200, tokens.text
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert me.json()["two_factor_enabled"] is True


@pytest.mark.parametrize("wrong", ["000000", "00000\u00e9"], ids=["digits", "not ASCII"])
async def test_a_wrong_code_does_not_enable(client: AsyncClient, verified_account: Account, wrong: str) -> None:
    secret = (await client.post(SETUP, headers=verified_account.headers, json=CONFIRMED)).json()["secret"]
    wrong = "111111" if pyotp.TOTP(secret).now() == wrong else wrong

    response = await client.post(ENABLE, headers=verified_account.headers, json={"code": wrong})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_code"
    assert (await client.post(TOKEN, data={"username": verified_account.email, "password": PASSWORD})).json()[
        "access_token"
    ]


async def test_enabling_needs_enrolment_first(client: AsyncClient, verified_account: Account) -> None:
    response = await client.post(ENABLE, headers=verified_account.headers, json={"code": "123456"})
    assert response.status_code == 409


async def test_setup_needs_the_password(
    client: AsyncClient, verified_account: Account, app_context: AppContext
) -> None:
    """A stolen access token alone cannot put another authenticator on the account."""
    missing = await client.post(SETUP, headers=verified_account.headers)
    wrong = await client.post(SETUP, headers=verified_account.headers, json={"password": WRONG_PASSWORD})

    assert missing.status_code == 422
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_credentials")
    async with app_context.database.sessions() as session:
        user = (await session.scalars(select(User).where(User.email == verified_account.email))).one()
        enable_events = select(AuditEvent.outcome).where(AuditEvent.action == "user.two_factor_enable")
        outcomes = (await session.scalars(enable_events)).all()
    assert user.totp_secret is None
    assert outcomes == ["failure"]  # counted like a failed login, toward the lockout


async def test_setup_is_refused_while_enabled(client: AsyncClient, enrolled: Enrolled) -> None:
    assert (await client.post(SETUP, headers=enrolled.account.headers, json=CONFIRMED)).status_code == 409


async def test_a_code_is_accepted_once(client: AsyncClient, enrolled: Enrolled) -> None:
    code = enrolled.code()
    first = await second_step(client, enrolled, code)
    assert first.status_code == 200

    replay = await second_step(client, enrolled, code)

    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    "typed",
    [lambda code: f" {code}", lambda code: f"{code}\n", lambda code: f"{code[:3]} {code[3:]}"],
    ids=["leading blank", "trailing newline", "as apps show it"],
)
async def test_blanks_in_a_typed_code_are_ignored(
    client: AsyncClient, enrolled: Enrolled, typed: Callable[[str], str]
) -> None:
    response = await second_step(client, enrolled, typed(enrolled.code()))

    assert response.status_code == 200, response.text


async def test_an_older_code_is_refused_after_a_newer_one(client: AsyncClient, enrolled: Enrolled) -> None:
    older = pyotp.TOTP(enrolled.secret).at(enrolled.clock.now + timedelta(seconds=30))
    newer = pyotp.TOTP(enrolled.secret).at(enrolled.clock.now + timedelta(seconds=60))
    enrolled.clock.advance()  # both are within the allowed clock drift now
    assert (await second_step(client, enrolled, newer)).status_code == 200

    response = await second_step(client, enrolled, older)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("steps_off", "status"),
    [(-2, 401), (-1, 200), (1, 200), (2, 401)],
    ids=["two steps behind", "one step behind", "one step ahead", "two steps ahead"],
)
async def test_a_code_one_step_off_the_clock_is_accepted_and_two_steps_off_is_refused(
    client: AsyncClient, enrolled: Enrolled, steps_off: int, status: int
) -> None:
    for _ in range(3):
        enrolled.clock.advance()  # so that no step tried is the enrolment's or older: not a replay
    code = pyotp.TOTP(enrolled.secret).at(enrolled.clock.now + timedelta(seconds=30 * steps_off))

    response = await second_step(client, enrolled, code)

    assert response.status_code == status


async def test_a_recovery_code_logs_in_once(client: AsyncClient, enrolled: Enrolled) -> None:
    code = enrolled.recovery_codes[0]
    first = await second_step(client, enrolled, code)
    assert first.status_code == 200, first.text

    again = await second_step(client, enrolled, code)

    assert again.status_code == 401
    other = enrolled.recovery_codes[1].lower().replace("-", " ")  # typed loosely
    assert (await second_step(client, enrolled, other)).status_code == 200


async def test_the_status_counts_the_unused_recovery_codes(
    client: AsyncClient, verified_account: Account, clock: Clock
) -> None:
    async def status() -> dict[str, object]:
        response = await client.get(STATUS, headers=verified_account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert await status() == {"enabled": False, "recovery_codes_left": 0}
    enrolled = await enrol(client, verified_account, clock)
    assert await status() == {"enabled": True, "recovery_codes_left": 10}
    assert (await second_step(client, enrolled, enrolled.recovery_codes[0])).status_code == 200
    assert await status() == {"enabled": True, "recovery_codes_left": 9}
    confirmation = {"password": PASSWORD, "code": enrolled.code()}
    assert (await client.post(REGENERATE, headers=verified_account.headers, json=confirmation)).status_code == 200
    assert await status() == {"enabled": True, "recovery_codes_left": 10}
    confirmation = {"password": PASSWORD, "code": enrolled.code()}
    assert (await client.post(DISABLE, headers=verified_account.headers, json=confirmation)).status_code == 204
    assert await status() == {"enabled": False, "recovery_codes_left": 0}


class TestManyLogins:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(login_rate_limit="100/minute")

    async def test_spending_a_recovery_code_mails_the_owner_how_many_are_left(
        self, client: AsyncClient, enrolled: Enrolled, mailbox: Mailbox
    ) -> None:
        subject = "A recovery code was used"
        assert (await second_step(client, enrolled, enrolled.recovery_codes[0])).status_code == 200
        notice = text_part(mailbox.last_to(enrolled.account.email, subject=subject))
        assert "9 unused codes are left" in notice
        assert "Replace your recovery codes soon" not in notice

        for code in enrolled.recovery_codes[1:7]:
            assert (await second_step(client, enrolled, code)).status_code == 200
        assert len([message for message in mailbox.to(enrolled.account.email) if subject in message["Subject"]]) == 7
        notice = text_part(mailbox.last_to(enrolled.account.email, subject=subject))
        assert "3 unused codes are left" in notice
        assert "Replace your recovery codes soon" in notice
        assert not any(code in notice for code in enrolled.recovery_codes)
        assert (await second_step(client, enrolled, enrolled.code())).status_code == 200  # an authenticator code
        assert len([message for message in mailbox.to(enrolled.account.email) if subject in message["Subject"]]) == 7


async def test_a_login_step_token_works_once(client: AsyncClient, enrolled: Enrolled) -> None:
    mfa_token = await password_step(client, enrolled.account.email)
    assert (await client.post(MFA, json={"mfa_token": mfa_token, "code": enrolled.code()})).status_code == 200

    response = await client.post(MFA, json={"mfa_token": mfa_token, "code": enrolled.code()})

    assert response.status_code == 401


async def test_an_unknown_login_step_token_is_refused(client: AsyncClient, enrolled: Enrolled) -> None:
    response = await client.post(MFA, json={"mfa_token": "made-up", "code": enrolled.code()})
    assert response.status_code == 401


class TestLockout:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        # The lockout, not the rate, is under test.
        return settings_factory(login_rate_limit="100/minute", login_lockout_threshold=4)

    async def test_wrong_codes_lock_the_account_like_wrong_passwords(
        self, client: AsyncClient, enrolled: Enrolled
    ) -> None:
        # Until a code is right, the password step counts as an attempt too: a right password
        # between the wrong codes does not reset the count.
        for number in range(2):
            mfa_token = await password_step(client, enrolled.account.email)
            response = await client.post(MFA, json={"mfa_token": mfa_token, "code": f"{number:06d}"})
            assert response.status_code == 401

        locked = await client.post(TOKEN, data={"username": enrolled.account.email, "password": PASSWORD})

        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "account_locked"

    async def test_the_password_alone_does_not_reset_the_count_of_wrong_codes(
        self, client: AsyncClient, enrolled: Enrolled
    ) -> None:
        headers = enrolled.account.headers
        for number in range(4):
            wrong = await client.post(DISABLE, headers=headers, json={**CONFIRMED, "code": f"{number:06d}"})
            assert wrong.status_code == 401
            # Confirmed with the right password, but refused before it is checked: nothing resets.
            assert (await client.post(SETUP, headers=headers, json=CONFIRMED)).status_code == 409

        locked = await client.post(DISABLE, headers=headers, json={**CONFIRMED, "code": enrolled.code()})

        assert (locked.status_code, locked.json()["error"]["code"]) == (429, "account_locked")

    async def test_a_password_change_leaves_wrong_codes_counted(self, client: AsyncClient, enrolled: Enrolled) -> None:
        headers = enrolled.account.headers
        for number in range(3):
            wrong = await client.post(DISABLE, headers=headers, json={**CONFIRMED, "code": f"{number:06d}"})
            assert wrong.status_code == 401
        change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert (await client.post(PASSWORD_CHANGE, headers=headers, json=change)).status_code == 204

        locked = await client.post(TOKEN, data={"username": enrolled.account.email, "password": NEW_PASSWORD})

        assert (locked.status_code, locked.json()["error"]["code"]) == (429, "account_locked")

    async def test_wrong_codes_at_enrolment_lock_the_account(
        self, client: AsyncClient, verified_account: Account, clock: Clock
    ) -> None:
        """A stolen access token cannot guess the code that turns two-factor login on and shows the recovery codes."""
        headers = verified_account.headers
        secret = (await client.post(SETUP, headers=headers, json=CONFIRMED)).json()["secret"]
        right = pyotp.TOTP(secret).at(clock.now)
        for wrong in [code for code in ("111111", "222222", "333333", "444444", "555555") if code != right][:4]:
            assert (await client.post(ENABLE, headers=headers, json={"code": wrong})).status_code == 400

        locked = await client.post(ENABLE, headers=headers, json={"code": right})

        assert (locked.status_code, locked.json()["error"]["code"]) == (429, "account_locked")


async def test_disabling_needs_the_password_and_a_code(
    client: AsyncClient, enrolled: Enrolled, mailbox: Mailbox
) -> None:
    headers = enrolled.account.headers
    wrong_password = await client.post(
        DISABLE, headers=headers, json={"password": WRONG_PASSWORD, "code": enrolled.code()}
    )
    assert wrong_password.status_code == 401
    wrong_code = await client.post(DISABLE, headers=headers, json={"password": PASSWORD, "code": "000000"})
    assert wrong_code.status_code == 401

    response = await client.post(DISABLE, headers=headers, json={"password": PASSWORD, "code": enrolled.code()})

    assert response.status_code == 204, response.text
    assert "two-factor authentication is off" in mailbox.last_to(enrolled.account.email)["Subject"].lower()
    login = await client.post(TOKEN, data={"username": enrolled.account.email, "password": PASSWORD})
    assert "access_token" in login.json()
    again = await client.post(DISABLE, headers=headers, json={"password": PASSWORD, "code": enrolled.code()})
    assert again.status_code == 409


async def test_regenerating_replaces_the_recovery_codes(client: AsyncClient, enrolled: Enrolled) -> None:
    response = await client.post(
        REGENERATE, headers=enrolled.account.headers, json={"password": PASSWORD, "code": enrolled.code()}
    )

    assert response.status_code == 200, response.text
    new_codes = response.json()["recovery_codes"]
    assert set(new_codes).isdisjoint(enrolled.recovery_codes)
    old = await second_step(client, enrolled, enrolled.recovery_codes[0])
    assert old.status_code == 401
    new = await second_step(client, enrolled, new_codes[0])
    assert new.status_code == 200


async def test_two_regenerations_at_once_leave_one_set_of_codes(
    client: AsyncClient, enrolled: Enrolled, app_context: AppContext, settings: Settings
) -> None:
    """Each spent its own recovery code (that row locked), then deleted all of them: each waited for
    the other's code, and PostgreSQL ended the deadlock with a 500. The user's row is now taken first."""
    skip_unless_row_locks(settings)
    headers = enrolled.account.headers
    first, second, third = enrolled.recovery_codes[:3]
    user_id = (await client.get("/api/v1/users/me", headers=headers)).json()["id"]
    async with app_context.database.engine.connect() as holder:
        # Both requests have spent their code by the time they delete the codes: the third one's row.
        held = text("SELECT id FROM recovery_codes WHERE user_id = :user AND code_hash = :hash FOR UPDATE")
        third_hash = hashlib.sha256(third.replace("-", "").encode()).hexdigest()
        await holder.execute(held, {"user": user_id, "hash": third_hash})
        requests = [
            asyncio.create_task(client.post(REGENERATE, headers=headers, json={"password": PASSWORD, "code": code}))
            for code in (first, second)
        ]
        await until_a_statement_waits_on_a_lock(app_context, "", count=2)
        await holder.commit()
    responses = [await request for request in requests]

    assert sorted(response.status_code for response in responses) == [200, 401], [r.text for r in responses]
    status = await client.get(STATUS, headers=headers)
    assert status.json()["recovery_codes_left"] == 10
    (new_codes,) = [response.json()["recovery_codes"] for response in responses if response.status_code == 200]
    assert (await second_step(client, enrolled, new_codes[0])).status_code == 200


async def test_the_secret_is_encrypted_at_rest_and_codes_stay_out_of_the_audit_log(
    client: AsyncClient, enrolled: Enrolled, app_context: AppContext
) -> None:
    code = enrolled.code()
    await second_step(client, enrolled, "000000")
    await second_step(client, enrolled, code)
    async with app_context.database.sessions() as session:
        user = (await session.scalars(select(User).where(User.email == enrolled.account.email))).one()
        events = (await session.scalars(select(AuditEvent))).all()

    assert user.totp_secret is not None
    assert enrolled.secret not in user.totp_secret
    actions = {(event.action, event.outcome) for event in events}
    expected = {("user.two_factor_enable", "success"), ("auth.second_factor", "failure"), ("auth.login", "success")}
    assert expected <= actions
    for event in events:
        assert not any(secret in repr(vars(event)) for secret in (code, enrolled.secret, *enrolled.recovery_codes))


async def test_only_the_sha256_hashes_of_the_recovery_codes_are_stored(
    enrolled: Enrolled, app_context: AppContext
) -> None:
    async with app_context.database.sessions() as session:
        stored = (await session.scalars(select(RecoveryCode.code_hash))).all()
    # Of the code without its dashes, so that a code typed without them matches.
    expected = [hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in enrolled.recovery_codes]
    assert sorted(stored) == sorted(expected)


async def test_after_the_encryption_key_changed_codes_fail_and_recovery_codes_still_log_in(
    enrolled: Enrolled,
    settings_factory: Callable[..., Settings],
    started_app: Callable[[Settings], Awaitable[FastAPI]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The procedure docs/operations.md gives for a new TOTP_ENCRYPTION_KEY, with no 500 on the way."""
    rekeyed = await started_app(settings_factory(totp_encryption_key=NEW_TOTP_KEY))
    async with client_of(rekeyed) as client:
        code = await second_step(client, enrolled, enrolled.code())
        assert (code.status_code, code.json()["error"]["code"]) == (401, "invalid_credentials")
        recovery = await second_step(client, enrolled, enrolled.recovery_codes[0])
        assert recovery.status_code == 200, recovery.text
    assert '"event":"totp_secret_undecryptable"' in capsys.readouterr().out


async def test_a_new_key_with_the_old_one_as_fallback_keeps_codes_working_through_the_rotation(
    enrolled: Enrolled,
    settings_factory: Callable[..., Settings],
    started_app: Callable[[Settings], Awaitable[FastAPI]],
    app_context: AppContext,
) -> None:
    """The rotation docs/operations.md gives: the new key with the old one in
    TOTP_ENCRYPTION_KEY_FALLBACKS, `rotate-totp-secrets`, then the fallback removed."""
    rotating = settings_factory(totp_encryption_key=NEW_TOTP_KEY, totp_encryption_key_fallbacks=[TOTP_ENCRYPTION_KEY])
    async with client_of(await started_app(rotating)) as client:
        assert (await second_step(client, enrolled, enrolled.code())).status_code == 200
    async with app_context.database.sessions() as session:
        rotation = await rotate_totp_secrets(session, SecretBox(rotating.totp_keys))
    assert rotation == SecretRotation(reencrypted=1, undecryptable=[])
    async with client_of(await started_app(settings_factory(totp_encryption_key=NEW_TOTP_KEY))) as client:
        assert (await second_step(client, enrolled, enrolled.code())).status_code == 200


async def test_rotation_leaves_a_secret_that_changed_meanwhile_alone(
    enrolled: Enrolled, app_context: AppContext
) -> None:
    async with app_context.database.sessions() as session:
        user_id, stored = (await session.execute(select(User.id, User.totp_secret))).one()
        assert not await UserRepository(session).replace_totp_secret(user_id, "a stale read", "rotated")
        assert await session.scalar(select(User.totp_secret).where(User.id == user_id)) == stored


async def test_an_admin_resets_two_factor_login_for_an_owner_who_lost_every_code(
    client: AsyncClient, enrolled: Enrolled, admin: Account, mailbox: Mailbox
) -> None:
    owner = enrolled.account
    user_id = (await client.get("/api/v1/users/me", headers=owner.headers)).json()["id"]
    reset = f"/api/v1/admin/users/{user_id}/reset-2fa"
    assert (await client.post(reset, headers=owner.headers)).status_code == 403

    response = await client.post(reset, headers=admin.headers)

    assert response.status_code == 204, response.text
    assert (await client.get("/api/v1/users/me", headers=owner.headers)).status_code == 401  # sessions ended
    assert "two-factor authentication is off" in mailbox.last_to(owner.email)["Subject"].lower()
    login = await client.post(TOKEN, data={"username": owner.email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}  # the password alone again
    assert (await client.post(SETUP, headers=headers, json=CONFIRMED)).status_code == 200  # can enrol anew
    events = await client.get(
        "/api/v1/admin/audit-events", params={"action": "admin.two_factor_reset"}, headers=admin.headers
    )
    admin_id = (await client.get("/api/v1/users/me", headers=admin.headers)).json()["id"]
    assert [(event["actor_id"], event["target_id"]) for event in events.json()] == [(admin_id, str(user_id))]
    again = await client.post(reset, headers=admin.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")


async def test_an_admin_turns_off_their_own_two_factor_login_as_every_user_does(
    client: AsyncClient, verified_admin: Account, clock: Clock
) -> None:
    await enrol(client, verified_admin, clock)
    admin_id = (await client.get("/api/v1/users/me", headers=verified_admin.headers)).json()["id"]

    response = await client.post(f"/api/v1/admin/users/{admin_id}/reset-2fa", headers=verified_admin.headers)

    assert (response.status_code, response.json()["error"]["code"]) == (409, "conflict")
    assert "with your password and a code" in response.json()["error"]["message"]
    assert (await client.get(STATUS, headers=verified_admin.headers)).json()["enabled"] is True
