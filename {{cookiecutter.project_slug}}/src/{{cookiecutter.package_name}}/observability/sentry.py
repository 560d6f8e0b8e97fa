"""Error tracking with Sentry: on only when SENTRY_DSN is set, and nothing secret leaves the process.

`send_default_pii=False` keeps user data, cookies and client IPs out, stack frames go without
their local variables, and request bodies stay behind (they hold passwords, codes and link tokens
under names no denylist can foresee). The SDK's own `EventScrubber` filters values under secret keys (its
denylist plus the service's keys) anywhere in an event. What it cannot know is done here: secrets
inside text (a setting's value in an error message, a bearer token in a breadcrumb) and the values
of query parameters (a web page's one-time link token travels there). The request id becomes a
tag, so a Sentry issue leads straight to the request's log lines. Expected client errors (4xx)
are answered by the service and never reported."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.types import Event, Hint

from .. import __version__
from ..core.request_id import current_request_id
from ..settings import Settings
{%- if cookiecutter.use_opentelemetry %}
from .tracing import current_trace_id
{%- endif %}

FILTERED = "[Filtered]"  # what the SDK writes in place of a filtered value
SERVER_ERRORS = frozenset(range(500, 600))
# Keys of the service's own bodies and settings that the SDK's denylist does not hold.
SERVICE_DENYLIST = ["access_token", "refresh_token", "secret_key", "sentry_dsn"]
_TOKENS = re.compile(r"(?i)bearer\s+\S+|eyJ[\w-]+\.[\w-]+\.[\w-]+")


def init_sentry(settings: Settings) -> bool:
    """Start the SDK when SENTRY_DSN is set; returns whether it did. Safe to call more than once."""
    if settings.sentry_dsn is None:
        return False
    scrub = TextScrubber(settings.secret_values())
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or settings.environment,
        release=settings.sentry_release or __version__,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        profiles_sample_rate=settings.sentry_profiles_sample_rate,
        send_default_pii=False,
        include_local_variables=False,  # frame locals hold requests, headers and credentials
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + SERVICE_DENYLIST, recursive=True),
        before_send=scrub.event,
        before_send_transaction=scrub.event,
        integrations=[
            StarletteIntegration(failed_request_status_codes=SERVER_ERRORS),
            FastApiIntegration(failed_request_status_codes=SERVER_ERRORS),
        ],
    )
    return True


def report_unhandled(error: BaseException) -> None:
    """The request-context middleware answers unhandled errors itself; this sends them on (no-op when off)."""
    sentry_sdk.capture_exception(error)


def _names_only(query: str) -> str:
    """The query string's parameter names, each value filtered."""
    return urlencode([(name, FILTERED) for name, _ in parse_qsl(query, keep_blank_values=True)], safe="[]")


class TextScrubber:
    """Filters secret values and tokens out of every string of an event; runs after the SDK's scrubber."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted(secrets, key=len, reverse=True)  # longest first: no partial leftovers

    def event(self, event: Event, _hint: Hint) -> Event:
        scrubbed: Event = self._clean(event)
        request = scrubbed.get("request", {})
        if isinstance(query := request.get("query_string"), str):
            request["query_string"] = _names_only(query)
        if (request_id := current_request_id()) is not None:
            scrubbed.setdefault("tags", {})["request_id"] = request_id
{%- if cookiecutter.use_opentelemetry %}
        if (trace_id := current_trace_id()) is not None:
            scrubbed.setdefault("tags", {})["trace_id"] = trace_id  # the request's trace in the trace viewer
{%- endif %}
        return scrubbed

    def _clean(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._clean(item) for item in value]
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, FILTERED)
            return _TOKENS.sub(FILTERED, value)
        return value
