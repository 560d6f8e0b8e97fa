"""Log output: JSON lines with the request id, secrets masked, stdlib loggers in the same format."""

from __future__ import annotations

import contextvars
import json
import logging
from typing import Any

import pytest
import structlog
from asgi_correlation_id import correlation_id

from {{ cookiecutter.package_name }}.core.logging import REDACTED, configure_logging

from ..support import PASSWORD, PUBLIC_ADDRESSES, SECRET_KEY, TOTP_ENCRYPTION_KEY, IsolatedSettings


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_json_lines_carry_level_time_and_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(
        IsolatedSettings(
            environment="production",
            allow_sqlite_in_production=True,
            secret_key=SECRET_KEY,
            totp_encryption_key=TOTP_ENCRYPTION_KEY,
            email_backend="smtp",
            **PUBLIC_ADDRESSES,
        )
    )

    def log_during_a_request() -> None:
        correlation_id.set("req-123")  # as the middleware does for a request
        structlog.get_logger("test").info("something_happened", answer=42)

    contextvars.copy_context().run(log_during_a_request)  # the id does not leak into other tests
    (line,) = _lines(capsys)
    assert line["event"] == "something_happened"
    assert line["level"] == "info"
    assert line["request_id"] == "req-123"
    assert line["answer"] == 42
    assert line["timestamp"].endswith("Z")


def test_secrets_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(IsolatedSettings(log_format="json"))
    structlog.get_logger("test").warning(
        "login",
        password="hunter2",  # pragma: allowlist secret
        refresh_token="eyJ",
        authorization="Bearer x",
        cookie="s=1",
        email="a@b.c",
        refresh_tokens=3,  # a count, as the purge jobs log it
    )
    (line,) = _lines(capsys)
    assert {line[key] for key in ("password", "refresh_token", "authorization", "cookie")} == {REDACTED}
    assert (line["email"], line["refresh_tokens"]) == ("a@b.c", 3)


def test_standard_library_loggers_use_the_same_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(IsolatedSettings(log_format="json", log_level="WARNING"))
    logging.getLogger("uvicorn.error").warning("from %s", "uvicorn")
    logging.getLogger("uvicorn.error").info("filtered out by the level")
    (line,) = _lines(capsys)
    assert line["event"] == "from uvicorn"
    assert line["logger"] == "uvicorn.error"


def test_exceptions_are_rendered_into_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(IsolatedSettings(log_format="json"))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger("test").exception("failed")
    (line,) = _lines(capsys)
    assert "RuntimeError: boom" in line["exception"]


def test_development_logs_are_readable_console_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(IsolatedSettings(environment="development"))
    structlog.get_logger("test").info("hello", who="you")
    output = capsys.readouterr().out
    assert "hello" in output
    assert "who=you" in output
    assert not output.startswith("{")


def _fail_holding(password: str) -> None:
    raise RuntimeError(f"boom after {len(password)} characters")


def test_development_tracebacks_leave_local_variables_out(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(IsolatedSettings(environment="development"))
    try:
        _fail_holding(PASSWORD)
    except RuntimeError:
        structlog.get_logger("test").exception("failed")
    output = capsys.readouterr().out
    assert f"RuntimeError: boom after {len(PASSWORD)} characters" in output
    assert PASSWORD not in output
