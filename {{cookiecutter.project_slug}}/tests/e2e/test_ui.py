"""The UI's user flows in a real browser: sign up, log in and out, manage items, privacy between users, administration."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import Credentials

pytestmark = pytest.mark.e2e

PASSWORD = "a long browser passphrase 7"  # pragma: allowlist secret


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def sign_up(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/ui/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/ui/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def signed_up_and_in(page: Page) -> str:
    email = new_email()
    sign_up(page, email)
    log_in(page, email)
    expect(page.get_by_role("heading", name="My items")).to_be_visible()
    return email


def create_item(page: Page, title: str, description: str = "") -> None:
    page.get_by_role("link", name="New item").click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description (optional)").fill(description)
    page.get_by_role("button", name="Create").click()


def test_sign_up_then_log_in(page: Page) -> None:
    email = new_email()
    sign_up(page, email)
    expect(page.get_by_role("status")).to_contain_text("Your account is ready")
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/ui/items$"))
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def test_an_internationalised_address_signs_up_and_logs_in(page: Page) -> None:
    """Chromium sends a type=email field with the domain in punycode; the account stores it in Unicode."""
    email = f"user-{uuid.uuid4().hex[:12]}@bücher.example"
    sign_up(page, email)
    expect(page.get_by_role("status")).to_contain_text("Your account is ready")
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/ui/items$"))
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def test_sign_up_explains_what_is_wrong(page: Page) -> None:
    sign_up(page, "not-an-address", "short")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Please correct the following")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-error")).to_contain_text("at least 12 characters")


def test_bad_login_shows_an_error(page: Page) -> None:
    email = new_email()
    sign_up(page, email)
    log_in(page, email, "this is not my passphrase")
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    expect(page.get_by_label("Email address")).to_have_value(email)  # no retyping


def test_create_edit_and_delete_an_item(page: Page) -> None:
    signed_up_and_in(page)
    create_item(page, "Buy milk", "Two litres")
    expect(page.get_by_role("status")).to_have_text("Item created.")
    expect(page.get_by_role("heading", name="Buy milk")).to_be_visible()

    page.get_by_role("link", name="Edit Buy milk").click()
    expect(page.get_by_label("Title")).to_have_value("Buy milk")
    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 1 character")
    page.get_by_label("Title").fill("Buy oat milk")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Item saved.")
    expect(page.get_by_role("heading", name="Buy oat milk")).to_be_visible()

    page.get_by_role("link", name="Delete Buy oat milk").click()
    expect(page.get_by_role("heading", name="Delete “Buy oat milk”?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="Buy oat milk")).to_be_visible()  # still there
    page.get_by_role("link", name="Delete Buy oat milk").click()
    page.get_by_role("button", name="Delete the item").click()
    expect(page.get_by_role("status")).to_have_text("Item deleted.")
    expect(page.get_by_text("You have no items yet.")).to_be_visible()


def test_a_link_from_another_site_leaves_the_forms_open_in_other_tabs_working(page: Page, base_url: str) -> None:
    signed_up_and_in(page)
    page.get_by_role("link", name="New item").click()
    page.get_by_label("Title").fill("Written before the link")
    elsewhere = page.context.new_page()  # a mail or a chat in another tab, on another site
    link = f'<a href="{base_url}/ui/items">Open the service</a>'
    elsewhere.route("https://elsewhere.example/", lambda route: route.fulfill(content_type="text/html", body=link))
    elsewhere.goto("https://elsewhere.example/")
    elsewhere.get_by_role("link", name="Open the service").click()
    expect(elsewhere.get_by_role("heading", name="My items")).to_be_visible()

    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("status")).to_have_text("Item created.")


def test_on_a_phone_a_long_title_wraps_and_a_description_keeps_its_lines(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    signed_up_and_in(page)
    create_item(page, "https://example.com/" + "a" * 120, "Milk\nEggs")
    expect(page.get_by_role("status")).to_have_text("Item created.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator(".description").inner_text() == "Milk\nEggs"


def test_log_out_ends_the_session(page: Page) -> None:
    signed_up_and_in(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto("/ui/items")
    expect(page).to_have_url(re.compile(r"/ui/login$"))


def test_a_second_user_cannot_see_the_first_users_items(browser: Browser, base_url: str) -> None:
    first, second = browser.new_page(base_url=base_url), browser.new_page(base_url=base_url)
    try:
        signed_up_and_in(first)
        create_item(first, "First user's secret")
        edit_url = first.get_by_role("link", name="Edit First user's secret").get_attribute("href")

        signed_up_and_in(second)
        expect(second.get_by_text("You have no items yet.")).to_be_visible()
        expect(second.get_by_text("First user's secret")).to_have_count(0)
        second.goto(str(edit_url))
        expect(second.get_by_role("heading", name="Not Found")).to_be_visible()
    finally:
        first.context.close()
        second.context.close()


def test_an_admin_deactivates_a_member_whose_session_ends(
    browser: Browser, base_url: str, admin_credentials: Credentials, output_path: str
) -> None:
    member, admin = browser.new_page(base_url=base_url), browser.new_page(base_url=base_url)
    try:
        email = signed_up_and_in(member)
        log_in(admin, admin_credentials.email, admin_credentials.password)
        admin.get_by_role("link", name="Users").click()
        expect(admin.get_by_role("heading", name="Users")).to_be_visible()
        admin.get_by_label("Email starts with").fill(email)
        admin.get_by_role("button", name="Search").click()
        row = admin.get_by_role("row", name=email)
        expect(row.get_by_role("cell", name="member")).to_be_visible()
        expect(row.get_by_role("cell", name="Active")).to_be_visible()
        admin.screenshot(path=Path(output_path) / "users.png", full_page=True)

        admin.get_by_role("button", name=f"Deactivate {email}").click()
        expect(admin.get_by_role("status")).to_have_text("Account deactivated: its sessions have ended.")
        admin.get_by_label("Email starts with").fill(email)
        admin.get_by_role("button", name="Search").click()
        expect(admin.get_by_role("row", name=email).get_by_role("cell", name="Deactivated")).to_be_visible()

        member.reload()  # the member's next page: the session has ended
        expect(member).to_have_url(re.compile(r"/ui/login\?done=session-expired$"))
        expect(member.get_by_role("status")).to_have_text("Your session has ended: log in again.")
    finally:
        member.context.close()
        admin.context.close()


def test_a_member_has_no_admin_page(page: Page) -> None:
    signed_up_and_in(page)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    response = page.goto("/ui/admin/users")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("This page is for administrators only.")


def test_pages_are_styled_script_free_and_keyboard_friendly(page: Page) -> None:
    csp_violations: list[str] = []
    page.on("console", lambda message: csp_violations.append(message.text) if message.type == "error" else None)
    response = page.goto("/ui/login")
    assert response is not None
    assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none' forbids scripts
    expect(page.get_by_role("button", name="Log in")).to_have_css("background-color", "rgb(31, 95, 191)")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert csp_violations == []


def test_item_list_screenshot(page: Page, output_path: str) -> None:
    """Leaves test-results/<test>/items.png behind: a picture of the main page for reviews and CI."""
    signed_up_and_in(page)
    create_item(page, "Buy milk", "Two litres, semi-skimmed")
    create_item(page, "Book dentist", "Before the end of the month")
    create_item(page, "Renew passport")
    expect(page.get_by_role("listitem")).to_have_count(3)
    screenshot = Path(output_path) / "items.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0
