"""The messages of one request: composed while it runs, delivered after its response is sent."""

from __future__ import annotations

from fastapi import BackgroundTasks

from .mailer import Mailer


class Outbox:
    def __init__(self, mailer: Mailer, background_tasks: BackgroundTasks) -> None:
        self.mailer = mailer
        self.background_tasks = background_tasks

    def send(self, template: str, to: str, **values: object) -> None:
        """Compose now (a missing value fails the request), deliver once the client has its answer."""
        self.background_tasks.add_task(self.mailer.deliver, self.mailer.compose(template, to, **values))
