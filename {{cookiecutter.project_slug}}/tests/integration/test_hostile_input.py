"""Hostile input: fuzzed headers and path parameters, log injection, and no secret in any log line."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

import pyotp
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import CLIENT_ADDRESS, NEW_PASSWORD, PASSWORD, Account, Mailbox, token_from

RESET_PASSWORD = "a reset long passphrase"  # pragma: allowlist secret

# Explicit alphabets: st.characters() makes Hypothesis build its Unicode table on a project's first
# run, several seconds under coverage.
# Anything a header can carry: latin-1 text without line breaks (servers reject those before the app).
HEADER_TEXT = st.text(st.sampled_from([chr(code) for code in range(256) if chr(code) not in "\r\n"]), max_size=5000)
# Any character a URL can percent-encode: every code point but the surrogates.
ANY_CHARACTER = st.integers(0, 0x10FFFF).filter(lambda code: not 0xD800 <= code <= 0xDFFF).map(chr)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(request_id=HEADER_TEXT, authorization=HEADER_TEXT, item_id=st.text(ANY_CHARACTER, max_size=300))
async def test_fuzzed_headers_and_path_parameters_never_cause_a_5xx(
    client: AsyncClient, request_id: str, authorization: str, item_id: str
) -> None:
    headers = {b"X-Request-ID": request_id.encode("latin-1"), b"Authorization": authorization.encode("latin-1")}
    for collection in ("/api/v1/items", "/api/v1/admin/users"):
        response = await client.get(f"{collection}/{urllib.parse.quote(item_id, safe='')}", headers=headers)
        assert response.status_code < 500
        if response.status_code >= 400:  # an empty id is a redirect to the list
            assert set(response.json()["error"]) >= {"code", "message", "request_id"}
        assert response.headers["x-request-id"] != request_id or len(request_id) <= 128


async def test_nul_characters_are_refused_before_they_reach_the_database(
    client: AsyncClient, account: Account, admin: Account
) -> None:
    """PostgreSQL's text cannot hold NUL: on every database such input is a 4xx, never a 500."""
    for body in ({"title": "a\x00b"}, {"title": "a title", "description": "a\x00b"}):
        response = await client.post("/api/v1/items", json=body, headers=account.headers)
        assert response.status_code == 422, response.text
    login = await client.post("/api/v1/auth/token", data={"username": "ada\x00@example.com", "password": PASSWORD})
    assert (login.status_code, login.json()["error"]["code"]) == (401, "invalid_credentials")
    searches = {
        "/api/v1/admin/users": ["email_prefix"],
        "/api/v1/admin/audit-events": ["action", "target_type", "target_id"],
    }
    for path, names in searches.items():
        for name in names:
            response = await client.get(path, params={name: "a\x00"}, headers=admin.headers)
            assert response.status_code == 422, (name, response.text)


async def test_a_client_address_that_is_no_ip_address_is_recorded_as_unknown(app: FastAPI, account: Account) -> None:
    """Behind a proxy that appends to X-Forwarded-For, uvicorn passes on what the client put first."""
    transport = ASGITransport(app=app, client=("x" * 70, 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as forged:
        login = await forged.post("/api/v1/auth/token", data={"username": account.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        sessions = (await forged.get("/api/v1/users/me/sessions", headers=headers)).json()
    assert {session["client_ip"] for session in sessions} == {"unknown", CLIENT_ADDRESS[0]}


async def test_control_characters_cannot_forge_console_log_lines(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings_factory(log_format="console"))
    async with app.router.lifespan_context(app), _client(app) as client:
        capsys.readouterr()
        await client.get("/no/such/page%0Arequest_id=forged%1b[31m")
    output = capsys.readouterr().out
    (access_line,) = [line for line in output.splitlines() if "path=" in line]
    assert "request_id=forged" in access_line  # on the access line, not a forged line of its own
    assert "\x1b" not in output


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_a_whole_session_at_debug_level_logs_no_secret(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str], mailbox: Mailbox, log_format: str
) -> None:
    app = create_app(settings_factory(log_level="DEBUG", log_format=log_format, database_echo=True))
    secrets = [PASSWORD]
    email = f"eve-{log_format}@example.com"  # the test database is shared with the other parameter
    async with app.router.lifespan_context(app), _client(app) as client:
        await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        tokens = (await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})).json()
        refreshed = (await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
        account = Account(email, PASSWORD, refreshed["access_token"], refreshed["refresh_token"])
        headers = {**account.headers, "Cookie": "session=cookie-value-0123456789"}
        created = await client.post("/api/v1/items", json={"title": "private"}, headers=headers)
        await client.get(f"/api/v1/items/{created.json()['id']}", headers=headers)
        await client.get("/api/v1/items", headers=headers)
        await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD + "x"})
        change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        await client.post("/api/v1/users/me/password", json=change, headers=headers)
        last = (await client.post("/api/v1/auth/token", data={"username": email, "password": NEW_PASSWORD})).json()
        await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {last['access_token']}"})
        recovery = await _recover_secure_and_move_the_account(client, mailbox, email)
    secrets += [tokens["access_token"], tokens["refresh_token"], account.access_token, account.refresh_token]
    secrets += [NEW_PASSWORD, last["access_token"], last["refresh_token"], *recovery]
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "items" in output  # the logs were captured at all
    for secret in secrets:
        assert secret not in output
    assert "Bearer " not in output
    assert "cookie-value-0123456789" not in output


async def _recover_secure_and_move_the_account(client: AsyncClient, mailbox: Mailbox, email: str) -> list[str]:
    """Verify the address, reset the password, enrol two-factor login, log in with a recovery code and
    move the account to a new address.

    Returns the secrets these steps handled (the six-digit codes are left out: a timestamp may hold them).
    """
    verification = token_from(mailbox.messages[0])
    await client.post("/api/v1/auth/verify-email", json={"token": verification})
    await client.post("/api/v1/auth/password-reset", json={"email": email})
    reset = token_from(mailbox.last_to(email))
    await client.post("/api/v1/auth/password-reset/confirm", json={"token": reset, "new_password": RESET_PASSWORD})
    form = {"username": email, "password": RESET_PASSWORD}
    tokens = (await client.post("/api/v1/auth/token", data=form)).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    setup = await client.post("/api/v1/users/me/2fa/setup", json={"password": RESET_PASSWORD}, headers=headers)
    secret = setup.json()["secret"]
    enabled = await client.post("/api/v1/users/me/2fa/enable", json={"code": pyotp.TOTP(secret).now()}, headers=headers)
    recovery_codes = enabled.json()["recovery_codes"]
    mfa_token = (await client.post("/api/v1/auth/token", data=form)).json()["mfa_token"]
    last = (await client.post("/api/v1/auth/mfa", json={"mfa_token": mfa_token, "code": recovery_codes[0]})).json()
    new_email = f"moved-{email}"
    change = {"new_email": new_email, "password": RESET_PASSWORD, "code": recovery_codes[1]}
    headers = {"Authorization": f"Bearer {last['access_token']}"}
    await client.post("/api/v1/users/me/email", json=change, headers=headers)
    change_token = token_from(mailbox.last_to(new_email))
    confirmed = await client.post("/api/v1/auth/email-change/confirm", json={"token": change_token})
    assert confirmed.status_code == 204, confirmed.text
    return [verification, reset, RESET_PASSWORD, secret, *recovery_codes, mfa_token, last["access_token"], change_token]


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app, client=CLIENT_ADDRESS), base_url="http://testserver")
