"""Shared fixtures: a migrated test database, apps built by the factory from test settings, clients.

The database is TEST_DATABASE_URL, else DATABASE_URL when it points at PostgreSQL, else a
temporary SQLite file. A configured database that cannot be reached stops the run: the suite
never quietly falls back to SQLite. Its tables are dropped and migrated at the start.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.db.models import Base, Role, User
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

from .support import CLIENT_ADDRESS, PASSWORD, SECRET_KEY, Account, IsolatedSettings, log_in

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _configured_database_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith("postgres"):
            return None
    # Through the settings, so postgres:// and postgresql:// get the async driver as in the service.
    return IsolatedSettings(database_url=url).database_url


def _drop_and_migrate(connection: Connection) -> None:
    Base.metadata.drop_all(connection)
    connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The migrated test database."""
    url = _configured_database_url() or f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    connect_args = {} if url.startswith("sqlite") else {"timeout": 5}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_drop_and_migrate)
    except (OSError, SQLAlchemyError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        pytest.exit(
            f"test database {shown} cannot be used ({error!r}): start it or point TEST_DATABASE_URL elsewhere", 1
        )
    finally:
        await engine.dispose()
    return url


{%- if cookiecutter.use_celery %}


@pytest.fixture(scope="session")
def job_queue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests' embedded broker and result backend (SQLite files) live."""
    return tmp_path_factory.mktemp("jobs")
{%- endif %}


@pytest.fixture(scope="session")
def settings_factory(database_url: str{% if cookiecutter.use_celery %}, job_queue_dir: Path{% endif %}) -> Callable[..., Settings]:
    """Test settings: fast password hashing, the test database, overrides as keyword arguments."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "secret_key": SECRET_KEY,
            "database_startup_attempts": 1,
            "argon2_time_cost": 1,
            "argon2_memory_cost_kib": 8,
            "argon2_parallelism": 1,
            "log_format": "json",
{%- if cookiecutter.use_celery %}
            "celery_broker_url": f"sqla+sqlite:///{job_queue_dir / 'broker.db'}",
            "celery_result_backend": f"db+sqlite:///{job_queue_dir / 'results.db'}",
            "celery_worker_metrics_port": 0,
{%- endif %}
            **overrides,
        }
        return IsolatedSettings(**values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Override in a test module to run its tests with other settings."""
    return settings_factory()


async def _empty_tables(context: AppContext) -> None:
    async with context.database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """A started app of the test's own (fresh login counters and metrics) on empty tables."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await _empty_tables(application.state.context)
        yield application


@pytest.fixture
def app_context(app: FastAPI) -> AppContext:
    context: AppContext = app.state.context
    return context


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with AsyncClient(transport=transport, base_url="http://testserver") as http_client:
        yield http_client


@pytest.fixture
def make_account(client: AsyncClient) -> Callable[[str], Awaitable[Account]]:
    """Register and log in a user."""

    async def make(email: str = "ada@example.com") -> Account:
        response = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        tokens = await log_in(client, email)
        return Account(email, PASSWORD, tokens["access_token"], tokens["refresh_token"])

    return make


@pytest.fixture
async def account(make_account: Callable[[str], Awaitable[Account]]) -> Account:
    return await make_account("ada@example.com")


@pytest.fixture
async def admin(client: AsyncClient, app_context: AppContext) -> Account:
    """A logged-in administrator, promoted in the database as `create-user --admin` would make one."""
    email = "root@example.com"
    response = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    async with app_context.database.sessions() as session:
        await session.execute(update(User).where(User.email == email).values(role=Role.ADMIN))
        await session.commit()
    tokens = await log_in(client, email)
    return Account(email, PASSWORD, tokens["access_token"], tokens["refresh_token"])
