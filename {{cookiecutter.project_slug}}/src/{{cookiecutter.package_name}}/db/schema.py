"""The readiness check that the database has the schema this release uses."""

from __future__ import annotations

from sqlalchemy import select

from ..core.availability import is_unavailable
from .engine import Database
from .models import Base


class SchemaCheck:
    """Fails while the database lacks a table or column the models map, as when a release starts
    before its migrations ran: the routes that use them would answer 500.

    Once it passes it stays passed without asking again: only a later release's migrations remove
    what this one maps (expand, then contract).
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._current = False

    async def __call__(self) -> None:
        if self._current:
            return
        try:
            async with self._database.engine.connect() as connection:
                for table in Base.metadata.sorted_tables:
                    await connection.execute(select(*table.columns).limit(0))
        except Exception as error:
            if is_unavailable(error):  # the `database` check reports that; this one is about the schema
                return
            raise
        self._current = True
