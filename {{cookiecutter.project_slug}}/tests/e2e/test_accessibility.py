"""What only a browser can measure: colour contrast in both colour schemes."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Page

from .test_ui import sign_up

pytestmark = pytest.mark.e2e


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
