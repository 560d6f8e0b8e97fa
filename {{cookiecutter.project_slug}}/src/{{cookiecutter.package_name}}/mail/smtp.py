"""Sending one message to the SMTP server of the settings (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from ..settings import Settings

# Worth another try: the server refused or dropped the connection, timed out or answered with an
# error. aiosmtplib's connection and timeout errors are SMTPExceptions as well as OSErrors.
SMTP_ERRORS = (aiosmtplib.SMTPException, OSError)


async def send(message: EmailMessage, settings: Settings) -> None:
    """One attempt: connect, secure the connection as SMTP_SECURITY says, log in if configured, send."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
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


# A server restarting or briefly overloaded: three attempts, half a second then a second apart.
send_with_retries = retry(
    retry=retry_if_exception_type(SMTP_ERRORS),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)(send)
