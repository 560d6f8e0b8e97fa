"""What only a browser can measure: colour contrast in both colour schemes, reflow on a narrow
screen, table layout, and where the answer to a refused form appears."""

from __future__ import annotations

import re
import uuid
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect

from ..support import Mailbox
from .conftest import Credentials
from .test_account import link_in
from .test_ui import PASSWORD, log_in, sign_up, signed_up_and_in

pytestmark = pytest.mark.e2e

# The one-word cells, buttons and links of the users table whose text takes more than one line.
WORDS_BROKEN_ACROSS_LINES = """() => [...document.querySelectorAll(
    '.users tbody td:not(:last-child), .users tbody button, .users tbody a')]
  .filter((element) => !/\\s/.test(element.textContent.trim()))
  .filter((element) => {
    const range = document.createRange();
    range.selectNodeContents(element);
    return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size > 1;
  })
  .map((element) => element.textContent.trim())"""


def luminance(colour: str) -> float:
    """WCAG's relative luminance of a computed `rgb(r, g, b)` colour."""
    channels = [int(value) / 255 for value in re.findall(r"\d+", colour)[:3]]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def computed(page: Page, selector: str, css_property: str) -> str:
    value: str = page.locator(selector).first.evaluate(f"(e) => getComputedStyle(e)['{css_property}']")
    return value


def page_background(page: Page) -> str:
    """The body's own background, which the colours are measured against."""
    colour = computed(page, "body", "backgroundColor")
    assert colour.startswith("rgb("), f"the body paints no background of its own: {colour}"
    return colour


def fits_the_width(page: Page) -> bool:
    widths: dict[str, int] = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
    )
    return widths["scroll"] <= widths["client"]


def test_in_dark_mode_links_errors_and_hints_change_colour_and_keep_4_5_to_1(page: Page) -> None:
    sign_up(page, "not-an-address", "short")
    text = (".brand", ".error", ".hint")
    light = {selector: computed(page, selector, "color") for selector in text}
    page.emulate_media(color_scheme="dark")
    background = page_background(page)
    assert luminance(background) < 0.1  # the dark canvas
    for selector in text:
        colour = computed(page, selector, "color")
        assert colour != light[selector], selector
        assert contrast(colour, background) >= 4.5, (selector, colour, background)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_field_borders_keep_3_to_1_against_the_page(page: Page, scheme: Literal["light", "dark"]) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto("/ui/login")
    background = page_background(page)
    assert contrast(computed(page, "#email", "borderTopColor"), background) >= 3


def test_at_320_pixels_a_long_address_and_the_key_wrap_instead_of_scrolling_sideways(
    browser: Browser, base_url: str, admin_credentials: Credentials, mailbox: Mailbox
) -> None:
    email = f"reflow-{uuid.uuid4().hex}@example.org"  # 51 characters, no place to break
    member = browser.new_page(base_url=base_url, viewport={"width": 320, "height": 640})
    admin = browser.new_page(base_url=base_url, viewport={"width": 320, "height": 640})
    try:
        sign_up(member, email)
        log_in(member, email)
        expect(member.get_by_role("heading", name="My items")).to_be_visible()
        assert fits_the_width(member), "items"
        member.goto(link_in(mailbox.last_to(email)))
        member.get_by_role("button", name="Confirm my address").click()
        member.get_by_role("link", name="Security").click()
        member.get_by_label("Password", exact=True).fill(PASSWORD)
        assert fits_the_width(member), "security"
        member.get_by_role("button", name="Set up two-factor login").click()
        expect(member.locator("#secret")).to_be_visible()
        assert fits_the_width(member), "enrolment"

        log_in(admin, admin_credentials.email, admin_credentials.password)
        admin.goto(f"/ui/admin/users?email={email}")
        assert fits_the_width(admin), "users"  # the table scrolls in its own region
        admin.get_by_role("link", name=f"Delete {email}").click()
        expect(admin.get_by_role("heading", name=f"Delete {email}?")).to_be_visible()
        assert fits_the_width(admin), "admin delete"
    finally:
        member.context.close()
        admin.context.close()


def test_the_users_table_breaks_no_word_across_lines(page: Page, admin_credentials: Credentials) -> None:
    signed_up_and_in(page)  # a member with a Deactivate button and a Delete link
    log_in(page, admin_credentials.email, admin_credentials.password)
    page.goto("/ui/admin/users")
    expect(page.get_by_role("cell", name="member").first).to_be_visible()
    assert page.evaluate(WORDS_BROKEN_ACROSS_LINES) == []


def test_a_wrong_password_on_the_security_page_is_shown_at_its_field_in_view(page: Page) -> None:
    signed_up_and_in(page)
    page.get_by_role("link", name="Security").click()
    page.get_by_label("Your password, to confirm").fill("not my passphrase")
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/ui/account/delete#delete-account$"))
    expect(page.get_by_label("Your password, to confirm")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_be_in_viewport()
