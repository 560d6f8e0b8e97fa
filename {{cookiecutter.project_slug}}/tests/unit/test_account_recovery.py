"""How long a mailed link works, as the message says it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from {{ cookiecutter.package_name }}.services.account_recovery import duration_text


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=2), "2 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=3), "3 hours"),
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=90), "90 seconds"),
    ],
)
def test_the_largest_exact_unit_is_used(duration: timedelta, text: str) -> None:
    assert duration_text(duration) == text
