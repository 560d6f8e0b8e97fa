"""E-mail: messages from templates (templates/), composed and delivered by the mailer (mailer.py),
sent over SMTP (smtp.py), and queued per request to go out after the response (outbox.py)."""

from .mailer import Mailer
from .outbox import Outbox

__all__ = ["Mailer", "Outbox"]
