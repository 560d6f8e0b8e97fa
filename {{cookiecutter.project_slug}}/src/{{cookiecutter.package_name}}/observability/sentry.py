"""Error tracking with Sentry: on only when SENTRY_DSN is set, and nothing secret leaves the process.

`send_default_pii=False` keeps user data, cookies and client IPs out, and stack frames go without
their local variables. `Scrubber` then walks every event, transaction and breadcrumb and filters
values under secret-looking keys (also in name/value pairs such as raw headers), bearer tokens
and JWTs in any string, and the values of the service's own secret settings. Each event carries
the request id, so a Sentry issue leads straight to the request's log lines. Expected client
errors (4xx) are answered by the service and never reported."""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from pydantic import SecretStr
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint
from sqlalchemy.engine import make_url

from .. import __version__
from ..core.logging import names_a_secret
from ..core.request_id import current_request_id
from ..settings import Settings

FILTERED = "[Filtered]"
SERVER_ERRORS = frozenset(range(500, 600))
_TOKENS = re.compile(r"(?i)bearer\s+\S+|eyJ[\w-]+\.[\w-]+\.[\w-]+")


def init_sentry(settings: Settings) -> bool:
    """Start the SDK when SENTRY_DSN is set; returns whether it did. Safe to call more than once."""
    if settings.sentry_dsn is None:
        return False
    scrub = Scrubber(secret_values(settings))
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or settings.environment,
        release=settings.sentry_release or __version__,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        profiles_sample_rate=settings.sentry_profiles_sample_rate,
        send_default_pii=False,
        include_local_variables=False,  # frame locals hold requests, headers and credentials
        before_send=scrub.event,
        before_send_transaction=scrub.event,
        before_breadcrumb=scrub.breadcrumb,
        integrations=[
            StarletteIntegration(failed_request_status_codes=SERVER_ERRORS),
            FastApiIntegration(failed_request_status_codes=SERVER_ERRORS),
        ],
    )
    return True


def report_unhandled(error: BaseException) -> None:
    """The request-context middleware answers unhandled errors itself; this sends them on (no-op when off)."""
    sentry_sdk.capture_exception(error)


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold: SecretStr fields and passwords inside connection URLs."""
    values = [value.get_secret_value() for value in settings.__dict__.values() if isinstance(value, SecretStr)]
    for name in ("database_url", "redis_url"):
        url = getattr(settings, name, None)
        if url and (password := make_url(url).password):
            values.append(str(password))
    return [value for value in values if value]


class Scrubber:
    def __init__(self, secrets: list[str]) -> None:
        self.secrets = sorted(secrets, key=len, reverse=True)  # longest first: no partial leftovers

    def event(self, event: Event, _hint: Hint) -> Event:
        scrubbed: Event = self._clean(event)
        if (request_id := current_request_id()) is not None:
            scrubbed.setdefault("tags", {})["request_id"] = request_id
        return scrubbed

    def breadcrumb(self, crumb: Breadcrumb, _hint: BreadcrumbHint) -> Breadcrumb:
        cleaned: Breadcrumb = self._clean(crumb)
        return cleaned

    def _clean(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: FILTERED if _is_secret_key(key) else self._clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            if len(value) == 2 and _is_secret_key(value[0]):  # a (name, value) pair, e.g. a header
                return [value[0], FILTERED]
            return [self._clean(item) for item in value]
        if isinstance(value, str):
            return self._clean_text(value)
        return value

    def _clean_text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, FILTERED)
        return _TOKENS.sub(FILTERED, text)


def _is_secret_key(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    return isinstance(key, str) and names_a_secret(key)
