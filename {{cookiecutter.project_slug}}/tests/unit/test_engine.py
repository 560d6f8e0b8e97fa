"""Start-up waits for the database with retries; the pool reports its connections."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.db.engine import Database

from ..support import IsolatedSettings

UNREACHABLE = "postgresql+asyncpg://app@127.0.0.1:1/app"  # nothing listens on port 1


async def test_start_up_retries_transient_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    database = Database(
        IsolatedSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/retry.db",
            database_startup_attempts=3,
            database_startup_backoff_seconds=0.01,
        )
    )
    calls = []
    real_ping = database.ping

    async def flaky_ping() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefusedError("not yet")
        await real_ping()

    monkeypatch.setattr(database, "ping", flaky_ping)
    try:
        await database.wait_until_reachable()
    finally:
        await database.dispose()
    assert len(calls) == 2


async def test_start_up_gives_up_after_the_configured_attempts() -> None:
    settings = IsolatedSettings(
        database_url=UNREACHABLE, database_startup_attempts=2, database_startup_backoff_seconds=0.01
    )
    database = Database(settings)
    try:
        with pytest.raises(ConnectionRefusedError):
            await database.wait_until_reachable()
    finally:
        await database.dispose()


async def test_pool_stats_count_connections(tmp_path: object) -> None:
    database = Database(IsolatedSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/pool.db"))
    try:
        async with database.engine.connect():
            assert database.pool_stats() == {"in_use": 1, "idle": 0, "limit": 2}
        assert database.pool_stats() == {"in_use": 0, "idle": 1, "limit": 2}
    finally:
        await database.dispose()
