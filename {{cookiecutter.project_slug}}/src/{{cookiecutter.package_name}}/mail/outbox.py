"""The messages of one request: composed while it runs, delivered after its response is sent."""

from __future__ import annotations

from datetime import datetime

from fastapi import BackgroundTasks

from .mailer import Mailer


class Outbox:
    def __init__(self, mailer: Mailer, background_tasks: BackgroundTasks) -> None:
        self.mailer = mailer
        self.background_tasks = background_tasks

    def send(self, template: str, to: str, *, expires_at: datetime | None = None, **values: object) -> None:
        """Compose now (a missing value fails the request), deliver once the client has its answer."""
        message = self.mailer.compose(template, to, expires_at=expires_at, **values)
        self.background_tasks.add_task(self.mailer.deliver, message)
