"""The jobs' database: one engine that every job shares, whichever thread and event loop runs it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ..db.engine import Database
from ..settings import Settings


class JobDatabase(Database):
    """An unpooled engine: each job runs in an event loop of its own, and a connection serves only
    the loop that opened it. One engine for all jobs, so tracing instruments it once."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, pooled=False)
        self._first_connection = threading.Lock()
        self._connected = False

    def connect_once(self, run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        """Connect before the first job does, one thread at a time until a connection succeeds;
        `run` runs the connecting coroutine (within the job's time limit).

        SQLAlchemy sets an engine up on its first connection under an asyncio lock, which the event
        loops of jobs starting together in several threads must not share.
        """
        with self._first_connection:
            if not self._connected:
                run(self.ping())
                self._connected = True
