"""The UI's account pages over HTTP (no browser): the two-factor login step, a forgotten password and
its reset, confirming the e-mail address, and the security page (two-factor login, a new e-mail
address, deleting the account).

Mail goes through the real SMTP client to the tests' SMTP server, and the links are read from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from httpx import Response as HttpResponse
from sqlalchemy import func, select, update

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import (
    LoginSession,
    RefreshToken,
    utc_now,
)
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import NEW_PASSWORD, PASSWORD, WRONG_PASSWORD, Account, Clock, Mailbox, text_part, token_from
from .test_two_factor import enrol
from .test_web import EMAIL, TOO_SHORT, address_of, post_form, sign_up_and_log_in, ui_pages, user_id_of

INVALID_LINK = "This link is invalid, expired or already used."
NEW_EMAIL = "grace@example.org"
NEUTRAL_ANSWER = "If an account uses that address, a link to choose a new password is on its way."

# Every page of the UI and who may open it. A new page fails the first test until it is listed
# here: deciding who may use it is part of adding it (the UI is not in the OpenAPI document).
PAGES: dict[tuple[str, str], str] = {
    ("get", "/"): "public",
    ("get", "/signup"): "public",
    ("post", "/signup"): "public",
    ("get", "/login"): "public",
    ("post", "/login"): "public",
    ("get", "/login/code"): "public",
    ("post", "/login/code"): "public",
    ("post", "/logout"): "public",
    ("get", "/forgot-password"): "public",
    ("post", "/forgot-password"): "public",
    ("get", "/reset-password"): "public",
    ("post", "/reset-password"): "public",
    ("get", "/verify-email"): "public",
    ("post", "/verify-email"): "public",
    ("post", "/verify-email/resend"): "member",
    ("get", "/confirm-email-change"): "public",
    ("post", "/confirm-email-change"): "public",
    ("get", "/items"): "member",
    ("get", "/items/new"): "member",
    ("post", "/items/new"): "member",
    ("get", "/items/{item_id}/edit"): "member",
    ("post", "/items/{item_id}/edit"): "member",
    ("get", "/items/{item_id}/delete"): "member",
    ("post", "/items/{item_id}/delete"): "member",
    ("get", "/account/two-factor"): "member",
    ("post", "/account/two-factor/setup"): "member",
    ("post", "/account/two-factor/enable"): "member",
    ("post", "/account/two-factor/recovery-codes"): "member",
    ("post", "/account/two-factor/disable"): "member",
    ("post", "/account/password"): "member",
    ("post", "/account/email"): "member",
    ("get", "/account/sessions"): "member",
    ("post", "/account/sessions/{session_id}/end"): "member",
    ("post", "/account/sessions/end-others"): "member",
    ("post", "/account/delete"): "member",
    ("get", "/admin/users"): "admin",
    ("post", "/admin/users/{user_id}/deactivate"): "admin",
    ("post", "/admin/users/{user_id}/reactivate"): "admin",
    ("post", "/admin/users/{user_id}/reset-2fa"): "admin",
    ("post", "/admin/users/{user_id}/require-new-password"): "admin",
    ("get", "/admin/users/{user_id}/delete"): "admin",
    ("post", "/admin/users/{user_id}/delete"): "admin",
}


def test_every_page_has_a_decided_access(app: FastAPI) -> None:
    assert ui_pages(app) == set(PAGES), "decide who may use each new page: add it to PAGES in this module"


@pytest.mark.parametrize(("method", "path"), [page for page, access in PAGES.items() if access != "public"])
async def test_a_visitor_is_sent_to_log_in(client: AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, address_of(path))
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"


@pytest.mark.parametrize(("method", "path"), [page for page, access in PAGES.items() if access == "admin"])
async def test_a_member_is_forbidden_the_admin_pages(client: AsyncClient, method: str, path: str) -> None:
    await sign_up_and_log_in(client)
    # With a valid CSRF token, so that a form is refused for who sends it, not for a missing token.
    response = await (post_form(client, address_of(path)) if method == "post" else client.get(address_of(path)))
    assert response.status_code == 403
    assert "This page is for administrators only." in response.text


async def confirm_address(client: AsyncClient, mailbox: Mailbox, email: str = EMAIL) -> None:
    page = await client.get("/ui/verify-email", params={"token": token_from(mailbox.last_to(email))})
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token, page.text
    response = await post_form(client, "/ui/verify-email", token=token.group(1))
    assert response.status_code == 303


async def with_two_factor(client: AsyncClient, mailbox: Mailbox, clock: Clock) -> tuple[str, list[str]]:
    """A signed-in user with a confirmed address and two-factor login on: the secret and the recovery codes."""
    await sign_up_and_log_in(client)
    await confirm_address(client, mailbox)
    page = await post_form(client, "/ui/account/two-factor/setup", password=PASSWORD)
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text)
    assert secret, page.text
    enabled = await post_form(client, "/ui/account/two-factor/enable", code=pyotp.TOTP(secret.group(1)).at(clock.now))
    assert enabled.status_code == 200, enabled.text
    return secret.group(1), re.findall(r"<li><code>([A-Z2-7-]+)</code></li>", enabled.text)


async def at_the_code_step(client: AsyncClient) -> HttpResponse:
    """Log out, then give the password again: the answer leads to the code page."""
    await post_form(client, "/ui/logout")
    response = await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)
    assert response.headers["location"] == "/ui/login/code"
    return response


def marked_invalid(page: str, field_id: str) -> bool:
    """The field is flagged and names its message, which is on the page."""
    described = f'aria-describedby="{field_id}-error" aria-invalid="true">'
    return f'<input id="{field_id}" ' in page and described in page and f'id="{field_id}-error"' in page


async def test_the_verification_link_confirms_the_address_only_when_the_button_is_pressed(
    client: AsyncClient, mailbox: Mailbox
) -> None:
    await sign_up_and_log_in(client)
    assert "Send the link again" in (await client.get("/ui/items")).text
    link_token = token_from(mailbox.last_to(EMAIL))

    page = await client.get("/ui/verify-email", params={"token": link_token})
    assert page.status_code == 200
    assert "Confirm my address</button>" in page.text
    assert "Send the link again" in (await client.get("/ui/items")).text  # opening the link changed nothing

    response = await post_form(client, "/ui/verify-email", token=link_token)
    assert response.headers["location"] == "/ui/items?done=email-verified"
    items = await client.get("/ui/items", params={"done": "email-verified"})
    assert 'role="status">Your e-mail address is confirmed.' in items.text
    assert "Send the link again" not in items.text

    for spent in (
        await client.get("/ui/verify-email", params={"token": link_token}),
        await post_form(client, "/ui/verify-email", token=link_token),
    ):
        assert spent.status_code == 400
        assert INVALID_LINK in spent.text


async def test_a_signed_out_visitor_confirms_and_is_sent_to_log_in(client: AsyncClient, mailbox: Mailbox) -> None:
    assert (await post_form(client, "/ui/signup", email=EMAIL, password=PASSWORD)).status_code == 303
    link = token_from(mailbox.last_to(EMAIL))
    response = await post_form(client, "/ui/verify-email", token=link)
    assert response.headers["location"] == "/ui/login?done=email-verified"


def form_with_button(page: str, label: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the form whose button says `label`, as a browser submits it."""
    for action, body in re.findall(r'<form method="post" action="([^"]*)"[^>]*>(.*?)</form>', page, re.S):
        if f">{label}</button>" in body:
            return action, dict(re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', body))
    raise AssertionError(f"no form with a {label!r} button")


@pytest.mark.parametrize("page", ["/ui/items", "/ui/account/two-factor"])
async def test_a_new_verification_link_can_be_asked_for(client: AsyncClient, mailbox: Mailbox, page: str) -> None:
    await sign_up_and_log_in(client)
    first = token_from(mailbox.last_to(EMAIL))
    action, fields = form_with_button((await client.get(page)).text, "Send the link again")
    response = await client.post(action, data=fields)
    assert response.headers["location"] == "/ui/items?done=verification-sent"
    assert len(mailbox.to(EMAIL)) == 2
    second = token_from(mailbox.last_to(EMAIL))
    assert second != first
    assert (await post_form(client, "/ui/verify-email", token=second)).status_code == 303


@pytest.mark.parametrize("token", ["", "made-up", "x" * 256, "x" * 4000])
async def test_made_up_links_say_they_do_not_work(client: AsyncClient, token: str) -> None:
    for page in ("/ui/reset-password", "/ui/verify-email", "/ui/confirm-email-change"):
        response = await client.get(page, params={"token": token})
        assert response.status_code == 400
        assert INVALID_LINK in response.text


async def test_a_forgotten_password_gets_the_same_answer_for_any_address(client: AsyncClient, mailbox: Mailbox) -> None:
    assert 'href="/ui/forgot-password">Forgot your password?' in (await client.get("/ui/login")).text
    assert (await post_form(client, "/ui/signup", email=EMAIL, password=PASSWORD)).status_code == 303
    assert (await client.get("/ui/forgot-password")).status_code == 200

    for address in (EMAIL, "nobody@example.com"):
        response = await post_form(client, "/ui/forgot-password", email=f" {address.upper()} ")
        assert response.headers["location"] == "/ui/forgot-password?done=reset-link-sent"
    page = await client.get("/ui/forgot-password", params={"done": "reset-link-sent"})
    assert f'role="status">{NEUTRAL_ANSWER}' in page.text

    assert "/ui/reset-password?token=" in text_part(mailbox.last_to(EMAIL))
    assert mailbox.to("nobody@example.com") == []

    invalid = await post_form(client, "/ui/forgot-password", email="not-an-address")
    assert invalid.status_code == 422
    assert 'id="email-error"' in invalid.text


async def test_a_reset_link_sets_a_new_password_and_ends_every_session(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up_and_log_in(client)
    await post_form(client, "/ui/forgot-password", email=EMAIL)
    link_token = token_from(mailbox.last_to(EMAIL))  # the last one: the reset link, after the verification link

    page = await client.get("/ui/reset-password", params={"token": link_token})
    assert page.status_code == 200
    assert f'name="token" value="{link_token}"' in page.text
    too_short = await post_form(client, "/ui/reset-password", token=link_token, new_password=TOO_SHORT)
    assert too_short.status_code == 422
    assert "at least 12 characters" in too_short.text

    response = await post_form(client, "/ui/reset-password", token=link_token, new_password=NEW_PASSWORD)
    assert response.headers["location"] == "/ui/login?done=password-reset"
    # This session has ended too.
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).status_code == 401
    assert (await post_form(client, "/ui/login", email=EMAIL, password=NEW_PASSWORD)).status_code == 303

    reused = await post_form(client, "/ui/reset-password", token=link_token, new_password=NEW_PASSWORD)
    assert reused.status_code == 400
    assert INVALID_LINK in reused.text


class TestMailBudget:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(email_rate_limit_per_client="3/hour")

    async def test_every_form_that_sends_mail_counts_toward_the_clients_budget(self, client: AsyncClient) -> None:
        await sign_up_and_log_in(client)  # the verification link: 1
        assert (await post_form(client, "/ui/verify-email/resend")).status_code == 303  # 2
        assert (await post_form(client, "/ui/forgot-password", email=EMAIL)).status_code == 303  # 3

        for response in (
            await post_form(client, "/ui/forgot-password", email=EMAIL),
            await post_form(client, "/ui/verify-email/resend"),
            await post_form(client, "/ui/signup", email="other@example.com", password=PASSWORD),
        ):
            assert response.status_code == 429
            assert "Too many attempts" in response.text


async def test_two_factor_needs_a_confirmed_address(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    page = await client.get("/ui/account/two-factor")
    assert "once your e-mail address is confirmed" in page.text
    assert "Set up two-factor login" not in page.text
    for path in ("/ui/account/two-factor/setup", "/ui/account/two-factor/enable"):
        response = await post_form(client, path, code="123456")
        assert response.status_code == 403
        assert "Verify your e-mail address first" in response.text


async def test_enrolment_shows_the_qr_code_and_confirms_with_a_code(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    await sign_up_and_log_in(client)
    await confirm_address(client, mailbox)
    assert "Set up two-factor login</button>" in (await client.get("/ui/account/two-factor")).text
    wrong = await post_form(client, "/ui/account/two-factor/setup", password=WRONG_PASSWORD)
    assert wrong.status_code == 401
    assert "The current password is incorrect" in wrong.text
    assert "QR code" not in wrong.text

    page = await post_form(client, "/ui/account/two-factor/setup", password=PASSWORD)
    assert page.status_code == 200
    assert (
        '<div class="qr" role="img" aria-label="QR code for your authenticator app"><svg ' in page.text
    )  # not escaped
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1))

    malformed = await post_form(client, "/ui/account/two-factor/enable", code="12")
    assert malformed.status_code == 422
    wrong = await post_form(client, "/ui/account/two-factor/enable", code=totp.at(clock.now + timedelta(hours=1)))
    assert wrong.status_code == 400
    assert "The code is incorrect" in wrong.text
    # Starting again asks for the password again: a form without it would count as a wrong one.
    assert '<a href="/ui/account/two-factor">Start again with a new key</a>' in wrong.text

    enabled = await post_form(client, "/ui/account/two-factor/enable", code=totp.at(clock.now))
    assert enabled.status_code == 200
    codes = re.findall(r"<li><code>([A-Z2-7-]+)</code></li>", enabled.text)
    assert len(codes) == 10
    security = (await client.get("/ui/account/two-factor")).text
    assert "Two-factor login is <strong>on</strong>" in security
    assert "You have <strong>10</strong> unused recovery codes.</p>" in security
    assert mailbox.last_to(EMAIL)["Subject"].startswith("Two-factor authentication is on")

    for path in ("/ui/account/two-factor/setup", "/ui/account/two-factor/enable"):
        again = await post_form(client, path, password=PASSWORD, code=totp.at(clock.now))
        assert again.status_code == 409
        assert "already enabled" in again.text


async def test_a_two_factor_login_asks_for_a_code_after_the_password(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    secret, recovery_codes = await with_two_factor(client, mailbox, clock)

    step = await at_the_code_step(client)
    cookie = step.headers["set-cookie"]
    assert cookie.startswith("login_step=")
    assert all(part in cookie for part in ("HttpOnly", "Path=/ui", "SameSite=strict", "Max-Age=300"))
    assert "session" not in client.cookies
    page = await client.get("/ui/login/code")
    assert page.status_code == 200
    assert client.cookies["login_step"] not in page.text  # the step's token is never in the page

    malformed = await post_form(client, "/ui/login/code", code="")
    assert malformed.status_code == 422
    wrong = await post_form(client, "/ui/login/code", code=pyotp.TOTP(secret).at(clock.now + timedelta(hours=1)))
    assert wrong.status_code == 401
    assert "The code is incorrect or was already used" in wrong.text

    clock.advance()
    response = await post_form(client, "/ui/login/code", code=pyotp.TOTP(secret).at(clock.now))
    assert response.headers["location"] == "/ui/items"
    assert 'login_step=""' in str(response.headers.get_list("set-cookie"))
    assert (await client.get("/ui/items")).status_code == 200
    assert (await client.get("/ui/login/code")).headers["location"] == "/ui/login"  # the step is over

    await at_the_code_step(client)
    recovered = await post_form(client, "/ui/login/code", code=recovery_codes[0].lower())
    assert recovered.headers["location"] == "/ui/items"


class TestManyLogins:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(login_rate_limit="100/minute")

    async def test_the_security_page_warns_when_few_recovery_codes_are_left(
        self, client: AsyncClient, mailbox: Mailbox, clock: Clock
    ) -> None:
        _, recovery_codes = await with_two_factor(client, mailbox, clock)
        for code in recovery_codes[:7]:
            await at_the_code_step(client)
            assert (await post_form(client, "/ui/login/code", code=code)).headers["location"] == "/ui/items"

        page = (await client.get("/ui/account/two-factor")).text

        warning = 'class="notice" role="status">You have <strong>3</strong> unused recovery codes. Replace them soon'
        assert warning in page


async def test_an_expired_login_step_starts_again_from_the_password(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    secret, _ = await with_two_factor(client, mailbox, clock)
    await at_the_code_step(client)

    client.cookies.delete("login_step")  # as the browser does when its Max-Age has passed
    clock.advance()
    response = await post_form(client, "/ui/login/code", code=pyotp.TOTP(secret).at(clock.now))
    assert response.status_code == 401
    assert "The login step expired or is unknown: log in again" in response.text
    assert '<label for="password">Password</label>' in response.text


class TestCodeLockout:
    @pytest.fixture
    def settings(self, settings_factory: Callable[..., Settings]) -> Settings:
        return settings_factory(login_lockout_threshold=3)  # the password step and two wrong codes

    async def test_wrong_codes_lock_the_account(self, client: AsyncClient, mailbox: Mailbox, clock: Clock) -> None:
        secret, _ = await with_two_factor(client, mailbox, clock)
        await at_the_code_step(client)
        wrong = pyotp.TOTP(secret).at(clock.now + timedelta(hours=1))
        for _ in range(2):
            assert (await post_form(client, "/ui/login/code", code=wrong)).status_code == 401
        clock.advance()
        locked = await post_form(client, "/ui/login/code", code=pyotp.TOTP(secret).at(clock.now))
        assert locked.status_code == 429
        assert "temporarily locked" in locked.text
        relogin = await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)
        assert relogin.status_code == 429  # the password step too

    async def test_wrong_enrolment_codes_lock_the_account(
        self, client: AsyncClient, mailbox: Mailbox, clock: Clock
    ) -> None:
        await sign_up_and_log_in(client)
        await confirm_address(client, mailbox)
        page = await post_form(client, "/ui/account/two-factor/setup", password=PASSWORD)
        secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page.text)
        assert secret, page.text
        totp = pyotp.TOTP(secret.group(1))
        wrong = totp.at(clock.now + timedelta(hours=1))
        for _ in range(3):
            assert (await post_form(client, "/ui/account/two-factor/enable", code=wrong)).status_code == 400
        locked = await post_form(client, "/ui/account/two-factor/enable", code=totp.at(clock.now))
        assert locked.status_code == 429
        assert "temporarily locked" in locked.text


async def test_replacing_recovery_codes_and_turning_off_need_the_password_and_a_code(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    secret, first_codes = await with_two_factor(client, mailbox, clock)
    clock.advance()

    malformed = await post_form(client, "/ui/account/two-factor/recovery-codes", password=PASSWORD, code="")
    assert malformed.status_code == 422
    assert 'id="code-error"' in malformed.text
    wrong = await post_form(
        client, "/ui/account/two-factor/recovery-codes", password=WRONG_PASSWORD, code=pyotp.TOTP(secret).at(clock.now)
    )
    assert wrong.status_code == 401
    assert marked_invalid(wrong.text, "password")  # "Incorrect password or code"

    replaced = await post_form(
        client, "/ui/account/two-factor/recovery-codes", password=PASSWORD, code=pyotp.TOTP(secret).at(clock.now)
    )
    assert replaced.status_code == 200
    new_codes = re.findall(r"<li><code>([A-Z2-7-]+)</code></li>", replaced.text)
    assert len(new_codes) == 10
    assert not set(new_codes) & set(first_codes)

    old = await post_form(client, "/ui/account/two-factor/disable", password=PASSWORD, code=first_codes[0])
    assert old.status_code == 401
    response = await post_form(client, "/ui/account/two-factor/disable", password=PASSWORD, code=new_codes[0])
    assert response.headers["location"] == "/ui/account/two-factor?done=two-factor-off#content"  # the notice
    page = await client.get("/ui/account/two-factor", params={"done": "two-factor-off"})
    assert 'role="status">Two-factor login is off.' in page.text
    assert mailbox.last_to(EMAIL)["Subject"].startswith("Two-factor authentication is off")
    assert "Set up two-factor login</button>" in page.text

    again = await post_form(client, "/ui/account/two-factor/disable", password=PASSWORD, code=new_codes[1])
    assert again.status_code == 409
    assert "not enabled" in again.text
    await post_form(client, "/ui/logout")
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).headers["location"] == "/ui/items"


async def test_an_admin_resets_the_two_factor_login_of_a_member_who_lost_every_code(
    client: AsyncClient, mailbox: Mailbox, clock: Clock, admin: Account
) -> None:
    await with_two_factor(client, mailbox, clock)
    member_session = client.cookies["session"]
    member_id = await user_id_of(client, admin, EMAIL)
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    page = await client.get("/ui/admin/users")
    assert f'<th scope="row">{EMAIL}</th>\n      <td>member</td>\n      <td>Active</td>\n      <td>On</td>' in page.text
    assert f'aria-label="Reset two-factor login of {EMAIL}"' in page.text
    assert f'aria-label="Reset two-factor login of {admin.email}"' not in page.text  # off for the admin

    response = await post_form(client, f"/ui/admin/users/{member_id}/reset-2fa")

    assert response.headers["location"] == "/ui/admin/users?done=two-factor-reset"
    page = await client.get("/ui/admin/users", params={"done": "two-factor-reset"})
    assert 'role="status">Two-factor login reset' in page.text
    assert f'aria-label="Reset two-factor login of {EMAIL}"' not in page.text
    assert mailbox.last_to(EMAIL)["Subject"].startswith("Two-factor authentication is off")
    again = await post_form(client, f"/ui/admin/users/{member_id}/reset-2fa")
    assert again.status_code == 409
    assert "not enabled" in again.text

    client.cookies.set("session", member_session, path="/ui")
    # The member's session ended.
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"
    client.cookies.delete("session")
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).headers["location"] == "/ui/items"


async def test_an_admin_requires_a_new_password_from_the_list_of_users(
    client: AsyncClient, mailbox: Mailbox, admin: Account
) -> None:
    await sign_up_and_log_in(client)
    member_session = client.cookies["session"]
    member_id = await user_id_of(client, admin, EMAIL)
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    page = (await client.get("/ui/admin/users")).text
    assert f'aria-label="Require a new password of {EMAIL}"' in page
    assert f'aria-label="Require a new password of {admin.email}"' not in page  # yours takes your current one

    response = await post_form(client, f"/ui/admin/users/{member_id}/require-new-password")

    assert response.headers["location"] == "/ui/admin/users?done=new-password-required"
    page = (await client.get("/ui/admin/users", params={"done": "new-password-required"})).text
    assert 'role="status">The account&#39;s password no longer works' in page
    assert mailbox.last_to(EMAIL)["Subject"].startswith("Set a new password")
    client.cookies.set("session", member_session, path="/ui")
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"
    client.cookies.delete("session")
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).status_code == 401


async def test_a_deactivated_account_can_be_required_a_new_password_before_it_is_reactivated(
    client: AsyncClient, admin: Account
) -> None:
    await sign_up_and_log_in(client)
    member_id = await user_id_of(client, admin, EMAIL)
    deactivate = {"is_active": False}
    assert (await client.patch(f"/api/v1/admin/users/{member_id}", json=deactivate, headers=admin.headers)).is_success
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)

    page = (await client.get("/ui/admin/users")).text

    assert f'aria-label="Require a new password of {EMAIL}"' in page  # the runbook's step before reactivating


async def test_an_admin_is_not_offered_to_reset_their_own_two_factor_login(
    client: AsyncClient, verified_admin: Account, clock: Clock
) -> None:
    enrolled = await enrol(client, verified_admin, clock)
    step = await post_form(client, "/ui/login", email=verified_admin.email, password=PASSWORD)
    assert step.headers["location"] == "/ui/login/code"
    assert (await post_form(client, "/ui/login/code", code=enrolled.code())).headers["location"] == "/ui/items"

    page = (await client.get("/ui/admin/users")).text

    row = f'<th scope="row">{verified_admin.email}</th>\n      <td>admin</td>\n      <td>Active</td>\n      <td>On</td>'
    assert row in page
    assert f'aria-label="Reset two-factor login of {verified_admin.email}"' not in page


async def test_a_member_changes_their_address_from_the_security_page(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up_and_log_in(client)
    assert (
        f"Your account uses <strong>{EMAIL}</strong> (not confirmed yet)"
        in (await client.get("/ui/account/two-factor")).text
    )
    wrong = await post_form(client, "/ui/account/email", new_email=NEW_EMAIL, password=WRONG_PASSWORD)
    assert wrong.status_code == 401
    assert "The current password is incorrect" in wrong.text
    assert f'value="{NEW_EMAIL}"' in wrong.text  # what was typed stays

    response = await post_form(client, "/ui/account/email", new_email=NEW_EMAIL, password=PASSWORD)

    assert response.headers["location"] == "/ui/account/two-factor?done=email-change-sent#content"
    link_token = token_from(mailbox.last_to(NEW_EMAIL))
    page = await client.get("/ui/confirm-email-change", params={"token": link_token})
    assert "Use this address for my account</button>" in page.text
    assert f"<strong>{EMAIL}</strong>" in (await client.get("/ui/account/two-factor")).text  # nothing changed yet
    confirmed = await post_form(client, "/ui/confirm-email-change", token=link_token)
    assert confirmed.headers["location"] == "/ui/items?done=email-changed"
    again = await post_form(client, "/ui/confirm-email-change", token=link_token)
    assert again.status_code == 400
    assert INVALID_LINK in again.text
    assert f"Your account uses <strong>{NEW_EMAIL}</strong>." in (await client.get("/ui/account/two-factor")).text
    assert mailbox.last_to(EMAIL)["Subject"].startswith("Your e-mail address was changed")


async def test_a_new_address_taken_meanwhile_is_refused_on_the_link_page(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up_and_log_in(client)
    assert (await post_form(client, "/ui/account/email", new_email=NEW_EMAIL, password=PASSWORD)).status_code == 303
    link_token = token_from(mailbox.last_to(NEW_EMAIL))
    taken = await client.post("/api/v1/auth/register", json={"email": NEW_EMAIL, "password": PASSWORD})
    assert taken.status_code == 201

    response = await post_form(client, "/ui/confirm-email-change", token=link_token)

    assert response.status_code == 409
    assert "An account with this e-mail address already exists" in response.text


async def test_with_two_factor_login_on_the_address_form_asks_for_a_code(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    secret, _ = await with_two_factor(client, mailbox, clock)
    assert 'id="email-code"' in (await client.get("/ui/account/two-factor")).text
    assert (await post_form(client, "/ui/account/email", new_email=NEW_EMAIL, password=PASSWORD)).status_code == 401
    clock.advance()
    code = pyotp.TOTP(secret).at(clock.now)

    response = await post_form(client, "/ui/account/email", new_email=NEW_EMAIL, password=PASSWORD, code=code)

    assert response.headers["location"] == "/ui/account/two-factor?done=email-change-sent#content"


async def test_the_sessions_page_lists_and_logs_out_other_sessions(
    client: AsyncClient, app_context: AppContext
) -> None:
    await sign_up_and_log_in(client)
    phone = await log_in_from(client, "Phone browser/1.0")
    page = await client.get("/ui/account/sessions")
    assert page.text.count('/end" class="inline">') == 1  # no button for this session
    assert "Phone browser/1.0</h2>" in page.text
    assert "(this session)</h2>" in page.text
    async with app_context.database.sessions() as session:  # a UI login gets no refresh token
        assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 1  # the phone's

    response = await post_form(client, f"/ui/account/sessions/{await session_id_of(client, phone)}/end")

    assert response.headers["location"] == "/ui/account/sessions?done=session-ended"
    assert (await client.get("/api/v1/users/me", headers=bearer(phone))).status_code == 401
    tablet = await log_in_from(client, "Tablet")
    ended = await post_form(client, "/ui/account/sessions/end-others")
    assert ended.headers["location"] == "/ui/account/sessions?done=other-sessions-ended"
    assert (await client.get("/api/v1/users/me", headers=bearer(tablet))).status_code == 401
    page = await client.get("/ui/account/sessions", params={"done": "other-sessions-ended"})
    assert 'role="status">Every other session is logged out.' in page.text
    assert '/end" class="inline">' not in page.text
    unknown = await post_form(client, f"/ui/account/sessions/{'0' * 32}/end")
    assert unknown.status_code == 404


async def test_the_sessions_page_says_when_a_session_renewed_its_tokens(
    client: AsyncClient, app_context: AppContext
) -> None:
    await sign_up_and_log_in(client)
    form = {"username": EMAIL, "password": PASSWORD}
    phone = (await client.post("/api/v1/auth/token", data=form, headers={"User-Agent": "Phone"})).json()
    assert "last used" not in (await client.get("/ui/account/sessions")).text  # both only logged in
    async with app_context.database.sessions() as session:  # as if both had logged in yesterday
        yesterday = utc_now() - timedelta(days=1)
        await session.execute(update(LoginSession).values(created_at=yesterday, last_used_at=yesterday))
        await session.commit()

    renewed = await client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})

    assert renewed.status_code == 200
    page = (await client.get("/ui/account/sessions")).text
    assert page.count(", last used <time") == 1  # the phone's; the UI's own login renews nothing


async def log_in_from(client: AsyncClient, user_agent: str) -> str:
    """An API login of the UI's user from another client: its access token."""
    form = {"username": EMAIL, "password": PASSWORD}
    response = await client.post("/api/v1/auth/token", data=form, headers={"User-Agent": user_agent})
    access_token: str = response.json()["access_token"]
    return access_token


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def session_id_of(client: AsyncClient, access_token: str) -> str:
    sessions = (await client.get("/api/v1/users/me/sessions", headers=bearer(access_token))).json()
    (session_id,) = [session["id"] for session in sessions if session["current"]]
    session_id_text: str = session_id
    return session_id_text


async def test_a_member_changes_their_password_and_every_session_ends(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    other_session = await log_in_from(client, "Another browser")
    sessions = await client.get("/ui/account/sessions")
    assert 'href="/ui/account/two-factor">change your password</a>' in sessions.text
    assert "Change my password</button>" in (await client.get("/ui/account/two-factor")).text
    wrong = await post_form(client, "/ui/account/password", current_password=WRONG_PASSWORD, new_password=NEW_PASSWORD)
    assert wrong.status_code == 401
    assert "The current password is incorrect" in wrong.text
    weak = await post_form(client, "/ui/account/password", current_password=PASSWORD, new_password=TOO_SHORT)
    assert weak.status_code == 422
    assert "at least 12 characters" in weak.text

    response = await post_form(client, "/ui/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD)

    assert response.headers["location"] == "/ui/login?done=password-changed"
    assert 'session=""' in response.headers["set-cookie"]
    assert (await client.get("/api/v1/users/me", headers=bearer(other_session))).status_code == 401
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).status_code == 401
    assert (await post_form(client, "/ui/login", email=EMAIL, password=NEW_PASSWORD)).status_code == 303


async def test_a_refused_form_of_the_security_page_shows_its_problems_beside_itself_only(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    response = await post_form(client, "/ui/account/delete", password="x" * 129)  # over the policy's 128
    assert response.status_code == 422
    page = response.text
    # The e-mail form above has a password field too: its field stays clean.
    assert 'id="delete-password-error"' in page
    assert 'id="email-password-error"' not in page
    assert page.count('class="error-summary"') == 1
    assert 'href="#delete-password">Your password, to confirm: ' in page  # leads to the field, named
    summary = page.index("error-summary")
    assert page.index('action="/ui/account/email#') < summary < page.index('action="/ui/account/delete#')

    wrong = await post_form(client, "/ui/account/password", current_password=WRONG_PASSWORD, new_password=NEW_PASSWORD)
    alert = wrong.text.index('id="current_password-error">The current password is incorrect')
    assert wrong.text.index('action="/ui/account/email#') > alert > wrong.text.index('<h2 id="change-password">')


@pytest.mark.parametrize(
    ("path", "form", "field_id", "section"),
    [
        ("/ui/account/two-factor/setup", {"password": WRONG_PASSWORD}, "password", "two-factor-login"),
        (
            "/ui/account/password",
            {"current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD},
            "current_password",
            "change-password",
        ),
        ("/ui/account/email", {"new_email": EMAIL, "password": PASSWORD}, "email-new_email", "change-email"),
        ("/ui/account/delete", {"password": WRONG_PASSWORD}, "delete-password", "delete-account"),
    ],
)
async def test_a_refused_security_form_marks_its_field_and_posts_to_its_section(
    client: AsyncClient, mailbox: Mailbox, path: str, form: dict[str, str], field_id: str, section: str
) -> None:
    await sign_up_and_log_in(client)
    await confirm_address(client, mailbox)
    page = (await client.get("/ui/account/two-factor")).text
    assert f'<h2 id="{section}">' in page
    assert f'action="{path}#{section}"' in page  # the answer opens at the form, not at the top

    response = await post_form(client, path, **form)

    assert response.status_code in {401, 409}
    assert marked_invalid(response.text, field_id), response.text


async def test_the_security_page_is_titled_security(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    page = (await client.get("/ui/account/two-factor")).text
    assert "<title>Security · Items</title>" in page
    assert "<h1>Security</h1>" in page
    assert '<h2 id="two-factor-login">Two-factor login</h2>' in page


async def test_the_code_step_has_its_own_title_and_a_keyboard_with_letters(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    await with_two_factor(client, mailbox, clock)
    await at_the_code_step(client)
    page = (await client.get("/ui/login/code")).text
    assert "<title>Enter your code · Items</title>" in page
    assert "inputmode" not in page  # recovery codes have letters: no digits-only keypad


async def test_a_member_deletes_their_account_from_the_security_page(client: AsyncClient, mailbox: Mailbox) -> None:
    await sign_up_and_log_in(client)
    page = await client.get("/ui/account/two-factor")
    assert "Delete my account</button>" in page.text
    wrong = await post_form(client, "/ui/account/delete", password=WRONG_PASSWORD)
    assert wrong.status_code == 401
    assert "The current password is incorrect" in wrong.text

    response = await post_form(client, "/ui/account/delete", password=PASSWORD)

    assert response.headers["location"] == "/ui/login?done=account-deleted"
    assert 'session=""' in response.headers["set-cookie"]
    page = await client.get("/ui/login", params={"done": "account-deleted"})
    assert 'role="status">Your account and everything in it are deleted.' in page.text
    assert mailbox.last_to(EMAIL)["Subject"].startswith("Your account is deleted")
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).status_code == 401


async def test_with_two_factor_login_on_the_deletion_form_asks_for_a_code(
    client: AsyncClient, mailbox: Mailbox, clock: Clock
) -> None:
    secret, _ = await with_two_factor(client, mailbox, clock)
    page = await client.get("/ui/account/two-factor")
    assert 'id="delete-code"' in page.text
    assert (await post_form(client, "/ui/account/delete", password=PASSWORD)).status_code == 401
    clock.advance()

    response = await post_form(client, "/ui/account/delete", password=PASSWORD, code=pyotp.TOTP(secret).at(clock.now))

    assert response.headers["location"] == "/ui/login?done=account-deleted"


async def test_an_admin_is_not_offered_to_delete_their_own_account(client: AsyncClient, admin: Account) -> None:
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    page = await client.get("/ui/account/two-factor")
    assert "An admin account is deleted by another admin" in page.text
    assert "Delete my account</button>" not in page.text
    response = await post_form(client, "/ui/account/delete", password=PASSWORD)
    assert response.status_code == 409
