"""Alembic environment: migrations run on the service's own async engine and settings.

Called by `python -m {{ cookiecutter.package_name }} migrate` (and plain `alembic`), or with an open
connection in `config.attributes["connection"]` (the test suite shares its connection this way).
"""

import asyncio
import time

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }}.db.migration_ops import write_rebuilds_keeping_ids
from {{ cookiecutter.package_name }}.db.models import Base, render_for_migrations
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

target_metadata = Base.metadata
# Held for the whole run on PostgreSQL: releases started at once (replicas on the image's default
# command) take turns, and the second finds nothing left to do. A session lock, not a transaction's:
# a revision that builds an index CONCURRENTLY commits on the way.
MIGRATION_LOCK_KEY = 0x6D696772  # "migr"


def run_migrations(connection: Connection, lock_timeout_seconds: float) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: Alembic copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # ...and a copy of `users` or `items` must keep AUTOINCREMENT: ids are never reused.
        process_revision_directives=write_rebuilds_keeping_ids if connection.dialect.name == "sqlite" else None,
        compare_type=True,
        compare_server_default=True,  # expand/contract migrations rely on server defaults
        render_item=render_for_migrations,
        # Each revision commits on its own, so one that must run outside a transaction can.
        transaction_per_migration=True,
    )
    if connection.dialect.name != "postgresql":
        with context.begin_transaction():
            context.run_migrations()
        return
    # Polled, not waited for in the database: a statement waiting there holds a snapshot, and the
    # other run's CREATE INDEX CONCURRENTLY would wait for that snapshot in turn.
    while not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY})").scalar():
        connection.rollback()
        time.sleep(1)
    # An ALTER waiting for a table that a long transaction reads makes every request on that table
    # queue behind it: give up instead, and let the next attempt try again.
    connection.exec_driver_sql(f"SET lock_timeout = {round(lock_timeout_seconds * 1000)}")
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.rollback()
        connection.exec_driver_sql("RESET lock_timeout")
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
        connection.commit()


async def run_on_new_engine(settings: Settings) -> None:
    # The service's connect timeout, not the driver's minute: a server that never answers fails fast.
    connect_args = {} if settings.is_sqlite else {"timeout": settings.database_connect_timeout_seconds}
    engine = create_async_engine(settings.database_url, poolclass=pool.NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations, settings.database_migration_lock_timeout_seconds)
    finally:
        await engine.dispose()


def run_offline(database_url: str) -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    context.configure(url=database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


shared_connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    run_offline(get_settings().database_url)
elif shared_connection is not None:
    run_migrations(shared_connection, get_settings().database_migration_lock_timeout_seconds)
else:
    asyncio.run(run_on_new_engine(get_settings()))
