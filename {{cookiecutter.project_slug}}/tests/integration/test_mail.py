"""E-mail through a real SMTP server (aiosmtpd in this process): composing, delivery, retries, the outbox."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import aiosmtplib
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from jinja2 import UndefinedError
from markupsafe import escape
from tenacity import wait_none

from {{ cookiecutter.package_name }}.about import TITLE
from {{ cookiecutter.package_name }}.api.deps import Mail
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.mail import Mailer, smtp
from {{ cookiecutter.package_name }}.mail.mailer import SUBJECTS
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import Mailbox, free_port, text_part, token_from

LINK = "https://orders.example/reset-password?token=s3cret-T0ken&lang=en"


@pytest.fixture
def retries_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attempts as configured, without the waits between them (which only slow the suite)."""
    monkeypatch.setattr(smtp, "send_with_retries", smtp.send_with_retries.retry_with(wait=wait_none()))


def mailer_with_outcomes(settings: Settings) -> tuple[Mailer, list[str]]:
    outcomes: list[str] = []
    return Mailer(settings, on_outcome=outcomes.append), outcomes


async def test_a_message_goes_out_over_smtp_with_text_and_html_parts(
    settings_factory: Callable[..., Settings], mailbox: Mailbox
) -> None:
    settings = settings_factory(email_from="Orders Desk <desk@orders.example>")
    mailer, outcomes = mailer_with_outcomes(settings)
    await mailer.deliver(mailer.compose("password_reset", "ada@example.com", link=LINK, expires_in="30 minutes"))

    received = mailbox.last_to("ada@example.com")
    assert outcomes == ["sent"]
    assert received["From"] == "Orders Desk <desk@orders.example>"
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == f"Reset your password - {TITLE}"
    assert received["Message-ID"].endswith("@orders.example>")
    assert received["Date"]
    text = text_part(received)
    assert LINK in text
    assert "30 minutes" in text
    assert TITLE in text
    html = received.get_body(preferencelist=("html",))
    assert html is not None
    # The link is escaped in HTML (&amp;), so a value can never add markup.
    assert 'href="https://orders.example/reset-password?token=s3cret-T0ken&amp;lang=en"' in html.get_content()
    assert token_from(received) == "s3cret-T0ken"


@pytest.mark.parametrize("template", sorted(SUBJECTS))
async def test_every_template_renders_both_parts_with_the_service_name(
    settings_factory: Callable[..., Settings], template: str
) -> None:
    mailer = Mailer(settings_factory())
    message = mailer.compose(template, "ada@example.com", link=LINK, expires_in="1 hour", codes_left=3)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert TITLE in text_part(message)
    assert escape(TITLE) in html.get_content()  # escaped as the HTML part escapes every value: Bob&#39;s


def test_a_value_the_template_needs_cannot_be_forgotten(settings_factory: Callable[..., Settings]) -> None:
    with pytest.raises(UndefinedError, match="'link' is undefined"):
        Mailer(settings_factory()).compose("email_verification", "ada@example.com", expires_in="1 hour")


@pytest.mark.usefixtures("retries_at_once")
async def test_a_temporary_refusal_is_retried(settings_factory: Callable[..., Settings], mailbox: Mailbox) -> None:
    mailbox.refusals = 1
    mailer, outcomes = mailer_with_outcomes(settings_factory())
    await mailer.deliver(mailer.compose("two_factor_enabled", "ada@example.com"))
    assert mailbox.last_to("ada@example.com")["Subject"].startswith("Two-factor authentication is on")
    assert mailbox.refusals == 0
    assert outcomes == ["sent"]


@pytest.mark.usefixtures("retries_at_once")
async def test_an_unreachable_server_is_logged_and_counted_without_raising(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_factory(smtp_port=free_port())  # nothing listens there
    configure_logging(settings)
    mailer, outcomes = mailer_with_outcomes(settings)
    await mailer.deliver(mailer.compose("password_reset", "ada@example.com", link=LINK, expires_in="30 minutes"))
    assert outcomes == ["failed"]
    output = capsys.readouterr().out
    (line,) = [json.loads(line) for line in output.splitlines() if "email_not_sent" in line]
    assert line["level"] == "error"
    assert line["subject"].startswith("Reset your password")
    assert "s3cret-T0ken" not in output
    assert "ada@example.com" not in output


@pytest.mark.usefixtures("retries_at_once")
async def test_a_permanent_refusal_is_not_retried_and_its_log_line_names_no_address(
    settings_factory: Callable[..., Settings], mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    mailbox.unknown.add("nobody@example.com")
    settings = settings_factory()
    configure_logging(settings)
    mailer, outcomes = mailer_with_outcomes(settings)
    await mailer.deliver(mailer.compose("two_factor_enabled", "nobody@example.com"))
    assert (outcomes, mailbox.refused) == (["failed"], ["nobody@example.com"])  # one attempt
    output = capsys.readouterr().out
    (line,) = [json.loads(line) for line in output.splitlines() if "email_not_sent" in line]
    assert line["error"] == "SMTPRecipientsRefused: SMTP 550"
    assert "nobody@example.com" not in output


async def test_a_message_to_an_internationalised_domain_goes_to_its_ascii_form(
    settings_factory: Callable[..., Settings], mailbox: Mailbox
) -> None:
    """Accounts store the Unicode domain; the test server, as many relays, cannot take it (no SMTPUTF8)."""
    mailer, outcomes = mailer_with_outcomes(settings_factory())
    await mailer.deliver(mailer.compose("password_reset", "ada@bücher.example", link=LINK, expires_in="30 minutes"))
    assert outcomes == ["sent"]
    assert mailbox.last_to("ada@xn--bcher-kva.example")["To"] == "ada@xn--bcher-kva.example"


def test_a_server_without_an_extension_the_message_needs_is_a_permanent_failure() -> None:
    """A non-ASCII local part needs SMTPUTF8: another try at a server without it gets the same answer."""
    error = smtp.delivery_error(aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server"))
    assert type(error) is smtp.DeliveryError
    assert str(error) == "SMTPNotSupported: SMTPUTF8 is not supported by this server"


async def test_a_message_cut_off_at_shutdown_is_logged_and_counted(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes the connection, never greets
        settings = settings_factory(smtp_port=silent.getsockname()[1])
        configure_logging(settings)
        mailer, outcomes = mailer_with_outcomes(settings)
        delivery = asyncio.create_task(mailer.deliver(mailer.compose("two_factor_enabled", "ada@example.com")))
        connection, _ = await asyncio.to_thread(silent.accept)
        # Let the client finish connecting: on Python 3.11, asyncio.wait_for (aiosmtplib's connect)
        # loses a cancellation that lands as its connection completes; 3.12 fixed that.
        await asyncio.sleep(0.5)
        delivery.cancel()  # what the server does to background tasks when its shutdown timeout runs out
        with connection, pytest.raises(asyncio.CancelledError):
            await delivery
    assert outcomes == ["failed"]
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "email_not_sent" in line]
    assert line["subject"].startswith("Two-factor authentication is on")
    assert line["error"].startswith("cancelled")


async def test_the_console_backend_writes_the_message_to_the_log(
    settings_factory: Callable[..., Settings], mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_factory(email_backend="console")
    configure_logging(settings)
    mailer, outcomes = mailer_with_outcomes(settings)
    await mailer.deliver(mailer.compose("password_reset", "ada@example.com", link=LINK, expires_in="30 minutes"))
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["event"] == "email_written_to_console"
    assert line["to"] == "ada@example.com"
    assert LINK in line["body"]  # the point of the backend: the developer follows the link
    assert outcomes == ["logged"]
    assert mailbox.messages == []


@pytest.mark.own_app  # adds a route
async def test_the_outbox_delivers_after_the_response(app: FastAPI, client: AsyncClient, mailbox: Mailbox) -> None:
    sent_before_the_response: list[int] = []

    @app.post("/notify")
    async def notify(mail: Mail) -> dict[str, str]:
        mail.send("two_factor_disabled", "ada@example.com")
        sent_before_the_response.append(len(mailbox.messages))
        return {"status": "queued"}

    response = await client.post("/notify")
    assert response.json() == {"status": "queued"}
    assert sent_before_the_response == [0]
    assert mailbox.last_to("ada@example.com")["Subject"].startswith("Two-factor authentication is off")
    metrics = (await client.get("/metrics")).text
    assert 'emails_total{outcome="sent"} 1.0' in metrics
    assert 'emails_total{outcome="failed"} 0.0' in metrics
