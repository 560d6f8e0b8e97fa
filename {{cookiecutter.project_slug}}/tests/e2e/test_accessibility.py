"""What only a browser can measure: colour contrast in both colour schemes and table layout."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Page, expect

from .conftest import Credentials
from .test_ui import log_in, sign_up, signed_up_and_in

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


def test_the_users_table_breaks_no_word_across_lines(page: Page, admin_credentials: Credentials) -> None:
    signed_up_and_in(page)  # a member with a Deactivate button and a Delete link
    log_in(page, admin_credentials.email, admin_credentials.password)
    page.goto("/ui/admin/users")
    expect(page.get_by_role("cell", name="member").first).to_be_visible()
    assert page.evaluate(WORDS_BROKEN_ACROSS_LINES) == []
