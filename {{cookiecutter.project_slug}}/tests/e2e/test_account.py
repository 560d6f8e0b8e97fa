"""Account recovery and two-factor login in a real browser: the links are read from the mail the
service sent to the tests' SMTP server, and the codes computed as an authenticator app would."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from ..support import Mailbox, text_part
from .test_ui import PASSWORD, log_in, new_email, sign_up, signed_up_and_in

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "another long browser passphrase 8"  # pragma: allowlist secret


def link_in(message: EmailMessage) -> str:
    """The link in the message, as the reader's mail program would open it."""
    link = re.search(r"https?://\S+", text_part(message))
    assert link, text_part(message)
    return link.group()


class Authenticator:
    """The user's authenticator app. Each code is of a later time step than the one before, as the
    service accepts a step once; one step ahead of the clock is within the drift it allows."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step = -1

    def next_code(self) -> str:
        self.last_step = max(self.totp.timecode(datetime.now(UTC)), self.last_step + 1)
        return self.totp.generate_otp(self.last_step)


def test_confirm_the_address_turn_on_two_factor_and_log_in_with_a_code(
    page: Page, mailbox: Mailbox, output_path: str
) -> None:
    email = new_email()
    sign_up(page, email)
    log_in(page, email)
    expect(page.get_by_text("Please confirm your e-mail address")).to_be_visible()

    page.goto(link_in(mailbox.last_to(email)))
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.get_by_role("status")).to_have_text("Your e-mail address is confirmed.")
    expect(page.get_by_text("Please confirm your e-mail address")).to_have_count(0)

    page.get_by_role("link", name="Security").click()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Set up two-factor login").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    page.screenshot(path=Path(output_path) / "two-factor.png", full_page=True)
    authenticator = Authenticator(page.locator("#secret").inner_text())
    page.get_by_label("Code from your authenticator").fill(authenticator.next_code())
    page.get_by_role("button", name="Turn on two-factor login").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(10)

    page.get_by_role("button", name="Log out").click()
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/ui/login/code$"))
    page.get_by_label("Code").fill(authenticator.next_code())
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/items$"))
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def test_a_forgotten_password_is_reset_from_the_link_in_the_mail(page: Page, mailbox: Mailbox) -> None:
    email = new_email()
    sign_up(page, email)
    mailbox.last_to(email)  # the verification link: set aside, the next message is the reset link
    mailbox.clear()

    page.goto("/ui/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account uses that address")

    page.goto(link_in(mailbox.last_to(email)))
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")

    log_in(page, email, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password")
    log_in(page, email, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/ui/items$"))


def test_a_member_moves_their_account_to_a_new_address(page: Page, mailbox: Mailbox) -> None:
    email = signed_up_and_in(page)
    address = new_email()
    page.get_by_role("link", name="Security").click()
    page.get_by_label("New e-mail address").fill(address)
    page.get_by_label("Your password, for the new address").fill(PASSWORD)
    page.get_by_role("button", name="Send a link to the new address").click()
    expect(page.get_by_role("status")).to_have_text(
        "We sent a link to the new address: your address changes when you open it."
    )
    expect(page.get_by_role("status")).to_be_in_viewport()  # not scrolled away to the form's section

    page.goto(link_in(mailbox.last_to(address)))
    page.get_by_role("button", name="Use this address for my account").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your account uses its new e-mail address from now on: log in with it."
    )
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_text(f"Your account uses {address}.")).to_be_visible()
    mailbox.last_to(email, subject="Your e-mail address was changed")


def test_a_member_deletes_their_account_from_the_security_page(page: Page, mailbox: Mailbox) -> None:
    email = signed_up_and_in(page)
    page.get_by_role("link", name="Security").click()
    page.get_by_label("Your password, to confirm").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account and everything in it are deleted.")
    mailbox.last_to(email, subject="Your account is deleted")

    log_in(page, email)
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password")


def test_logging_out_everywhere_else_ends_the_session_in_another_browser(
    page: Page, browser: Browser, base_url: str
) -> None:
    email = signed_up_and_in(page)
    elsewhere = browser.new_context(base_url=base_url, user_agent="Second browser")
    try:
        other_page = elsewhere.new_page()
        log_in(other_page, email)
        expect(other_page.get_by_role("heading", name="My items")).to_be_visible()

        page.get_by_role("link", name="Security").click()
        page.get_by_role("link", name="See where you are logged in").click()
        expect(page.get_by_role("heading", name="Second browser")).to_be_visible()
        page.get_by_role("button", name="Log out everywhere else").click()
        expect(page.get_by_role("status")).to_have_text("Every other session is logged out.")

        other_page.reload()
        expect(other_page).to_have_url(re.compile(r"/ui/login\?done=session-expired$"))
        expect(other_page.get_by_role("status")).to_have_text("Your session has ended: log in again.")
    finally:
        elsewhere.close()
