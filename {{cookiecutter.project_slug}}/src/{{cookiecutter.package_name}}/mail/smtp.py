"""Sending one message to the SMTP server of the settings (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..settings import Settings


class DeliveryError(Exception):
    """A message the server did not take, described without its addresses (SMTP replies quote them)."""


class TransientDeliveryError(DeliveryError):
    """Worth another try: the connection failed or timed out, or the server answered 4xx."""


async def send(message: EmailMessage, settings: Settings) -> None:
    """One attempt: connect, secure the connection as SMTP_SECURITY says, log in if configured, send."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            username=settings.smtp_username,
            password=password,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as error:
        raise delivery_error(error) from None  # the cause's text can name the recipient


def delivery_error(error: aiosmtplib.SMTPException | OSError) -> DeliveryError:
    """The failure by its kind and reply codes; 5xx replies are permanent (RFC 5321), the rest transient."""
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        # The server lacks an extension the message needs (SMTPUTF8 for a non-ASCII address):
        # another try gets the same answer.
        return DeliveryError(f"{type(error).__name__}: {error}")
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
    elif isinstance(error, aiosmtplib.SMTPResponseException):
        codes = [error.code]
    else:  # no reply: the connection failed, timed out or was dropped (its text names the server only)
        return TransientDeliveryError(f"{type(error).__name__}: {error}")
    description = f"{type(error).__name__}: SMTP {', '.join(map(str, codes))}"
    return DeliveryError(description) if all(code >= 500 for code in codes) else TransientDeliveryError(description)


# A server restarting or briefly overloaded: three attempts, half a second then a second apart.
send_with_retries = retry(
    retry=retry_if_exception_type(TransientDeliveryError),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)(send)
