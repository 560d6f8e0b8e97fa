"""Deleting a backlog of rows in batches, each committed on its own.

A large backlog (the first purge after months, a retention period made shorter) never becomes one
long transaction, whose locks, write-ahead log and replica lag grow with its size; a purge stopped
halfway keeps the batches it committed, and the next run goes on from there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

BATCH_SIZE = 5_000


async def delete_in_batches(session: AsyncSession, delete_batch: Callable[[int], Awaitable[int]]) -> int:
    """Run `delete_batch(limit)` and commit, until a batch deletes fewer rows than the limit; how many in all."""
    total = 0
    while True:
        deleted = await delete_batch(BATCH_SIZE)
        await session.commit()
        total += deleted
        if deleted < BATCH_SIZE:
            return total
