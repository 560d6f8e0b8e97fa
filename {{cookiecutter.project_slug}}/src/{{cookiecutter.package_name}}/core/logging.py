"""Structured logs: JSON lines in production, readable console lines in development.

Every line carries the request id of the request it belongs to. The standard library's loggers
(uvicorn, SQLAlchemy, Alembic) go through the same processors, so the output has one format.
Values under keys that look like secrets are replaced before anything is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor

{% if cookiecutter.use_opentelemetry -%}
from ..observability.tracing import add_trace_context
{% endif -%}
from ..settings import Settings
from .request_id import current_request_id

REDACTED = "[REDACTED]"
_SECRET_KEYS = re.compile(r"pass(word|phrase)?|secret|token|authorization|cookie|api[_-]?key|credential", re.IGNORECASE)


def names_a_secret(key: str) -> bool:
    """Whether a key (a log field, a header, a form field) names a secret."""
    return _SECRET_KEYS.search(key) is not None


def redact_secrets(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Mask values whose key names a secret (password, token, authorization, cookie, ...).

    Numbers stay: `refresh_tokens=3` counts tokens, and no secret of the service is a number.
    """
    for key, value in event_dict.items():
        if names_a_secret(key) and not isinstance(value, int):
            event_dict[key] = REDACTED
    return event_dict


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def escape_control_characters(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Console lines: a newline or terminal escape in a logged value (a path, a header) cannot forge a line."""
    for key, value in event_dict.items():
        if isinstance(value, str) and _CONTROL_CHARACTERS.search(value):
            event_dict[key] = _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match[0]):02x}", value)
    return event_dict


def add_request_id(_: Any, __: str, event_dict: EventDict) -> EventDict:
    request_id = current_request_id()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _json_bytes(event_dict: MutableMapping[str, Any], **_: Any) -> bytes:
    return orjson.dumps(event_dict, default=str)


def _json_text(event_dict: MutableMapping[str, Any], **_: Any) -> str:
    return _json_bytes(event_dict).decode()


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the standard library's root logger from the settings."""
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared: list[Processor] = [
        add_request_id,
{%- if cookiecutter.use_opentelemetry %}
        add_trace_context,
{%- endif %}
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Processor
    logger_factory: Callable[..., Any]
    if settings.effective_log_format == "json":
        shared.append(structlog.processors.format_exc_info)
        # orjson with BytesLoggerFactory is the setup structlog's performance docs recommend;
        # the standard library's handler needs text, so its lines are decoded.
        renderer = structlog.processors.JSONRenderer(serializer=_json_text)
        structlog_renderer: Processor = structlog.processors.JSONRenderer(serializer=_json_bytes)
        logger_factory = structlog.BytesLoggerFactory()
    else:  # JSON escapes control characters itself
        shared.append(escape_control_characters)
        # Plain tracebacks: rich's, the default when rich is installed (the dev tools bring it),
        # print every frame's local variables, passwords and tokens included.
        renderer = structlog_renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        logger_factory = structlog.PrintLoggerFactory()
    structlog.configure(
        processors=[*shared, structlog_renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=False,  # tests configure logging again with other settings
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # The middleware writes one access line per request; uvicorn's own would be a second one.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO if settings.database_echo else logging.WARNING)
    # aiosqlite logs every operation at DEBUG from its own threads, even after a request has ended.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
