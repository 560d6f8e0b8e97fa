"""The migrations create exactly the schema the models describe, on the database under test, and
carry existing rows over where a revision derives a new column from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import column, delete, insert, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import Base, UTCDateTime, utc_now

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
TABLES = Base.metadata.tables
# Rows written at an old revision name only its columns: the models' tables would add new ones.
SESSIONS_BEFORE_0005 = table("login_sessions", column("id"), column("user_id"), column("created_at", UTCDateTime))
SESSIONS_BEFORE_0007 = table(
    "login_sessions",
    column("id"),
    column("user_id"),
    column("created_at", UTCDateTime),
    column("expires_at", UTCDateTime),
)


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_migrated_schema_matches_the_models(app_context: AppContext) -> None:
    async with app_context.database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


@asynccontextmanager
async def database_at(tmp_path: Path, revision: str) -> AsyncIterator[AsyncConnection]:
    """A new SQLite database migrated up to `revision`, in a transaction of its own."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, revision)
            yield connection
    finally:
        await engine.dispose()


async def add_user(connection: AsyncConnection, email: str = "old@example.com") -> int:
    users = Base.metadata.tables["users"]
    user = insert(users).values(email=email, password_hash="x", role="member", is_active=True).returning(users.c.id)
    return int((await connection.execute(user)).scalar_one())


async def test_sessions_from_before_0005_end_when_their_newest_refresh_token_does(tmp_path: Path) -> None:
    now = utc_now()
    sessions, refresh_tokens = TABLES["login_sessions"], TABLES["refresh_tokens"]
    async with database_at(tmp_path, "0004") as connection:
        user_id = await add_user(connection)
        for session_id in ("refreshed", "never"):
            await connection.execute(
                insert(SESSIONS_BEFORE_0005).values(id=session_id, user_id=user_id, created_at=now)
            )
        for jti, days in (("first", 1), ("second", 14)):
            token = {"jti": jti, "session_id": "refreshed", "user_id": user_id, "created_at": now}
            await connection.execute(insert(refresh_tokens).values(**token, expires_at=now + timedelta(days=days)))

        await connection.run_sync(_migrate, "head")

        ends = dict((await connection.execute(select(sessions.c.id, sessions.c.expires_at))).all())
        assert ends == {"refreshed": now + timedelta(days=14), "never": now}
        await connection.run_sync(_migrate, "0004", down=True)
        await connection.run_sync(_migrate, "head")


async def test_0006_keeps_every_row_and_gives_no_account_the_id_of_a_deleted_one(tmp_path: Path) -> None:
    users, items, audit_events = TABLES["users"], TABLES["items"], TABLES["audit_events"]
    async with database_at(tmp_path, "0005") as connection:
        for email in ("kept@example.com", "deleted@example.com"):
            await add_user(connection, email)
        await connection.execute(insert(items).values(owner_id=1, title="kept"))
        # User 3 was deleted before the upgrade too; only the audit log still names them.
        deleted = {"action": "user.delete", "target_type": "user", "outcome": "success"}
        await connection.execute(insert(audit_events).values(actor_id=3, target_id="3", **deleted))
        await connection.execute(delete(users).where(users.c.id == 2))

        await connection.run_sync(_migrate, "head")

        assert (await connection.execute(select(items.c.owner_id, items.c.title))).all() == [(1, "kept")]
        assert await add_user(connection, "new@example.com") == 4
        await connection.run_sync(_migrate, "0005", down=True)
        await connection.run_sync(_migrate, "head")
        assert len((await connection.execute(select(users.c.id))).all()) == 2


async def test_sessions_from_before_0007_were_last_used_when_they_last_renewed_their_tokens(tmp_path: Path) -> None:
    login = utc_now() - timedelta(days=3)
    renewal = login + timedelta(days=2)
    sessions, refresh_tokens = TABLES["login_sessions"], TABLES["refresh_tokens"]
    async with database_at(tmp_path, "0006") as connection:
        user_id = await add_user(connection)
        for session_id in ("renewed", "never"):
            session = {"id": session_id, "user_id": user_id, "created_at": login, "expires_at": utc_now()}
            await connection.execute(insert(SESSIONS_BEFORE_0007).values(**session))
        # Each login issues a token a moment after the session; the renewal spent the first one.
        just_after_login = login + timedelta(milliseconds=3)
        for jti, session_id, issued, used in (
            ("first", "renewed", just_after_login, renewal),
            ("second", "renewed", renewal, None),
            ("only", "never", just_after_login, None),
        ):
            token = {"jti": jti, "session_id": session_id, "user_id": user_id, "expires_at": utc_now()}
            await connection.execute(insert(refresh_tokens).values(**token, created_at=issued, used_at=used))

        await connection.run_sync(_migrate, "head")

        last_used = dict((await connection.execute(select(sessions.c.id, sessions.c.last_used_at))).all())
        assert last_used == {"renewed": renewal, "never": login}
        assert len((await connection.execute(select(refresh_tokens.c.jti))).all()) == 3
        # A release from before 0007 (during a rollout, or rolled back to) still logs users in.
        older_release = {"id": "older-release", "user_id": user_id, "created_at": utc_now(), "expires_at": utc_now()}
        await connection.execute(insert(SESSIONS_BEFORE_0007).values(**older_release))
        await connection.run_sync(_migrate, "0006", down=True)
        await connection.run_sync(_migrate, "head")
