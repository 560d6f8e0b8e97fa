"""The current request's id, kept by asgi-correlation-id's middleware (added in main.py)."""

from __future__ import annotations

import re

from asgi_correlation_id import correlation_id

HEADER = "X-Request-ID"
# Printable, log-safe and bounded: a client's id that is anything else is replaced, never echoed.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def is_well_formed(request_id: str) -> bool:
    """The middleware's validator: proxies send ids of many shapes (uuid, nginx $request_id, traces)."""
    return _WELL_FORMED.fullmatch(request_id) is not None


{%- if cookiecutter.use_celery %}


def set_request_id(request_id: str | None) -> None:
    """For work outside an HTTP request: a background job that carries its request's id."""
    correlation_id.set(request_id)
{%- endif %}


def current_request_id() -> str | None:
    return correlation_id.get()
