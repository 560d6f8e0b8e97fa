"""The migrations create exactly the schema the models describe, on the database under test, and
carry existing rows over where a revision derives a new column from them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import Base, utc_now

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_migrated_schema_matches_the_models(app_context: AppContext) -> None:
    async with app_context.database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_sessions_from_before_0005_end_when_their_newest_refresh_token_does(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    now = utc_now()
    tables = Base.metadata.tables
    users, sessions, refresh_tokens = tables["users"], tables["login_sessions"], tables["refresh_tokens"]
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, "0004")
            user = {"email": "old@example.com", "password_hash": "x", "role": "member", "is_active": True}
            user_id = (await connection.execute(insert(users).values(**user).returning(users.c.id))).scalar_one()
            for session_id in ("refreshed", "never"):
                await connection.execute(insert(sessions).values(id=session_id, user_id=user_id, created_at=now))
            for jti, days in (("first", 1), ("second", 14)):
                token = {"jti": jti, "session_id": "refreshed", "user_id": user_id, "created_at": now}
                await connection.execute(insert(refresh_tokens).values(**token, expires_at=now + timedelta(days=days)))

            await connection.run_sync(_migrate, "head")

            ends = dict((await connection.execute(select(sessions.c.id, sessions.c.expires_at))).all())
            assert ends == {"refreshed": now + timedelta(days=14), "never": now}
            await connection.run_sync(_migrate, "0004", down=True)
            await connection.run_sync(_migrate, "head")
    finally:
        await engine.dispose()


async def test_0006_keeps_every_row_and_gives_no_account_the_id_of_a_deleted_one(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    tables = Base.metadata.tables
    users, items, audit_events = tables["users"], tables["items"], tables["audit_events"]
    account = {"password_hash": "x", "role": "member", "is_active": True}
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, "0005")
            for email in ("kept@example.com", "deleted@example.com"):
                await connection.execute(insert(users).values(email=email, **account))
            await connection.execute(insert(items).values(owner_id=1, title="kept"))
            # User 3 was deleted before the upgrade too; only the audit log still names them.
            deleted = {"action": "user.delete", "target_type": "user", "outcome": "success"}
            await connection.execute(insert(audit_events).values(actor_id=3, target_id="3", **deleted))
            await connection.execute(delete(users).where(users.c.id == 2))

            await connection.run_sync(_migrate, "head")

            assert (await connection.execute(select(items.c.owner_id, items.c.title))).all() == [(1, "kept")]
            new = insert(users).values(email="new@example.com", **account).returning(users.c.id)
            assert (await connection.execute(new)).scalar_one() == 4
            await connection.run_sync(_migrate, "0005", down=True)
            await connection.run_sync(_migrate, "head")
            assert len((await connection.execute(select(users.c.id))).all()) == 2
    finally:
        await engine.dispose()
