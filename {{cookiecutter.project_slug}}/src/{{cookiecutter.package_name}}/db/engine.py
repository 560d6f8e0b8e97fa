"""The async engine and its sessions; start-up waits for the database with retries."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry{% if cookiecutter.use_celery %}, NullPool{% endif %}
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from ..core.availability import is_unavailable
from ..settings import Settings

log = structlog.get_logger(__name__)


def _engine_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {"hide_parameters": settings.is_production}
    if not settings.is_sqlite:
        # A statement that outlives command_timeout is cancelled: a hung database never hangs a request.
        options["connect_args"] = {
            "timeout": settings.database_connect_timeout_seconds,
            "command_timeout": settings.database_command_timeout_seconds,
        }
    return options


def _pool_options(settings: Settings) -> dict[str, Any]:
    size, overflow = settings.database_pool
    options: dict[str, Any] = {
        "pool_size": size,
        "max_overflow": overflow,
        "pool_timeout": settings.database_pool_timeout_seconds,
        "pool_pre_ping": settings.database_pool_pre_ping,
    }
    if not settings.is_sqlite:
        options["pool_recycle"] = 1800  # before servers and proxies drop idle connections
    return options


def _configure_sqlite(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    # Foreign keys are off in SQLite by default; WAL lets readers run alongside the one writer.
    cursor = dbapi_connection.cursor()
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "database_unreachable", attempt=state.attempt_number, retry_in_seconds=round(sleep, 2), error=repr(error)
    )


class Database:
    """Owns the engine (and so the connection pool) of one application instance.
{%- if cookiecutter.use_celery %}

    `pooled=False` opens a connection for each session and closes it after: an engine that event
    loops share (the worker runs each job in a loop of its own) must not keep a connection that
    belongs to a loop already closed.
    """
{%- else %}"""
{%- endif %}

    def __init__(self, settings: Settings{% if cookiecutter.use_celery %}, *, pooled: bool = True{% endif %}) -> None:
        pool = _pool_options(settings){% if cookiecutter.use_celery %} if pooled else {"poolclass": NullPool}{% endif %}
        self.engine: AsyncEngine = create_async_engine(settings.database_url, **_engine_options(settings), **pool)
        if settings.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _configure_sqlite)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._pool_limit = sum(settings.database_pool)
        self._startup_attempts = settings.database_startup_attempts
        self._startup_backoff = settings.database_startup_backoff_seconds

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def wait_until_reachable(self) -> None:
        """Ping with exponential backoff; the last error propagates when every attempt failed."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._startup_attempts),
            # Doubling waits with jitter, so restarting replicas do not retry in lockstep.
            wait=wait_exponential(multiplier=self._startup_backoff, max=5) + wait_random(0, self._startup_backoff),
            # Only a database that cannot be reached yet; wrong credentials fail at once.
            retry=retry_if_exception(is_unavailable),
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self.ping()

    def pool_stats(self) -> dict[str, int]:
        """Connections in use and idle, and the most the pool opens (empty for pools that do not count them)."""
        pool: Any = self.engine.pool
        if not hasattr(pool, "checkedout"):
            return {}
        return {"in_use": pool.checkedout(), "idle": pool.checkedin(), "limit": self._pool_limit}

    async def dispose(self) -> None:
        await self.engine.dispose()
