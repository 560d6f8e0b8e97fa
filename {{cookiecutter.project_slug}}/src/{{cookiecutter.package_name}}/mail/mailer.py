"""Compose messages from the templates and deliver them with the backend of the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, make_msgid, parseaddr{% if cookiecutter.use_celery %}, parsedate_to_datetime{% endif %}
from pathlib import Path
{%- if cookiecutter.use_celery %}
from uuid import uuid4
{%- endif %}

import structlog
from email_validator import EmailNotValidError, validate_email
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..about import TITLE
from ..settings import Settings
{%- if cookiecutter.use_celery %}
from ..tasks.app import SEND_EMAIL
from ..tasks.queue import JobQueue, JobQueueUnavailableError
{%- endif %}
from . import smtp

log = structlog.get_logger(__name__)

# One per template in templates/ (a .txt and an .html file each); subjects, not secrets, whatever
# the scanners make of the word "password".
SUBJECTS = {
    "password_reset": "Reset your password",  # nosec B105  # pragma: allowlist secret
    "email_verification": "Confirm your e-mail address",
    "two_factor_enabled": "Two-factor authentication is on",
    "two_factor_disabled": "Two-factor authentication is off",
    "new_password_required": "Set a new password",  # pragma: allowlist secret
    "recovery_code_used": "A recovery code was used",
    "account_deleted": "Your account is deleted",
    "email_change": "Confirm your new e-mail address",
    "email_changed": "Your e-mail address was changed",
}


class Mailer:
    def __init__(
        self,
        settings: Settings,
        *,
        on_outcome: Callable[[str], None] = lambda outcome: None,
{%- if cookiecutter.use_celery %}
        jobs: JobQueue | None = None,
{%- endif %}
    ) -> None:
        self.settings = settings
        self.on_outcome = on_outcome  # called with "sent", "failed"{% if cookiecutter.use_celery %}, "queued"{% endif %} or "logged"
{%- if cookiecutter.use_celery %}
        self.jobs = jobs if settings.email_via_celery else None
{%- endif %}
        self.templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),  # the values in the HTML part are escaped, the text stays as is
            undefined=StrictUndefined,  # a value the template needs and the caller forgot fails at once
        )
        self.message_id_domain = parseaddr(settings.email_from)[1].rpartition("@")[2]

    def compose(self, template: str, to: str, *, expires_at: datetime | None = None, **values: object) -> EmailMessage:
        """The message `template` to `to`: plain text with an HTML alternative.

        `expires_at`: when the message's link stops working. It becomes the `Expires` header (RFC 4021),
        which some mail clients show{% if cookiecutter.use_celery %}, and a queued message not sent by then is dropped{% endif %}.
        """
        message = EmailMessage()
        message["Subject"] = f"{SUBJECTS[template]} - {TITLE}"
        message["From"] = self.settings.email_from
        message["To"] = ascii_address(to)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.message_id_domain)
        if expires_at is not None:
            message["Expires"] = format_datetime(expires_at)
        values = {"service": TITLE, **values}
        message.set_content(self.templates.get_template(f"{template}.txt").render(values))
        message.add_alternative(self.templates.get_template(f"{template}.html").render(values), subtype="html")
        return message

    async def deliver(self, message: EmailMessage) -> None:
        """Send `message`; never raises (it runs after the response): a failure is logged and counted."""
        if self.settings.email_backend == "console":
            # The development backend: the link in the message is in the log ("body" is not masked).
            log.info("email_written_to_console", to=message["To"], subject=message["Subject"], body=text_of(message))
            self.on_outcome("logged")
            return
{%- if cookiecutter.use_celery %}
        if self.jobs is not None and await self._queued(self.jobs, message):
            return
{%- endif %}
        try:
            await smtp.send_with_retries(message, self.settings)
        except smtp.DeliveryError as error:
            self._not_sent(message, str(error))
            return
        except asyncio.CancelledError:
            # The process is stopping and SHUTDOWN_TIMEOUT_SECONDS ran out: the message is lost, say which.
            self._not_sent(message, "cancelled: the process stopped before the server took the message")
            raise
        self.on_outcome("sent")

    def not_sent(self, error: str, **about: object) -> None:
        """Log and count a message that did not go out, also one its caller could not even compose
        (the data for it could not be read): emails_total{outcome="failed"} is what the alert watches."""
        # Neither the body nor the recipient: the body holds the token, the address is personal data.
        log.error("email_not_sent", **about, error=error)
        self.on_outcome("failed")

    def _not_sent(self, message: EmailMessage, error: str) -> None:
        self.not_sent(error, message_id=message["Message-ID"], subject=message["Subject"])
{%- if cookiecutter.use_celery %}

    async def _queued(self, jobs: JobQueue, message: EmailMessage) -> bool:
        """Hand `message` to a send_email job (the worker retries it with backoff while the server is
        unreachable). False when the broker did not take it: the caller sends it from here, because
        a reset link or a security notice must not be lost with the broker. A broker that took the
        job late may deliver it too; both copies have the same Message-ID."""
        # A job still queued when the link expires (a worker died with it, and Redis hands it on only
        # after its visibility timeout) is dropped by the worker and counted as failed, not sent dead.
        expires = parsedate_to_datetime(message["Expires"]) if message["Expires"] else None
        try:
            await jobs.enqueue(SEND_EMAIL, str(uuid4()), expires=expires, message=message.as_string())
        except JobQueueUnavailableError as error:
            log.warning(
                "email_not_queued", message_id=message["Message-ID"], subject=message["Subject"], error=repr(error)
            )
            return False
        self.on_outcome("queued")
        return True
{%- endif %}


def ascii_address(address: str) -> str:
    """The address with an internationalised domain in its ASCII form (punycode), when the local
    part is ASCII: accounts store the Unicode domain, and a relay without SMTPUTF8 refuses it."""
    try:
        return validate_email(address, check_deliverability=False).ascii_email or address
    except EmailNotValidError:  # stored before a rule was added: sent as it is
        return address


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if isinstance(part, EmailMessage) else ""
