"""Shared fixtures: a migrated test database, started apps for test settings, clients.

The database is TEST_DATABASE_URL, else DATABASE_URL when it points at PostgreSQL, else a
temporary SQLite file. A configured database that cannot be reached stops the run: the suite
never quietly falls back to SQLite. Its tables are dropped and migrated at the start. `make test`
spreads the tests over every core (pytest-xdist): each worker has its own database, a SQLite file
in its own temporary folder or a sibling of the configured one named after it (`app_test_gw0`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import URL, make_url, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from xdist import is_xdist_controller, is_xdist_worker

from {{ cookiecutter.package_name }}.__main__ import unjoined_heads
from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.db.models import Base, Role, User, utc_now
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.services import two_factor
from {{ cookiecutter.package_name }}.settings import Settings

from .support import (
    PASSWORD,
    SECRET_KEY,
    TOTP_ENCRYPTION_KEY,
    Account,
    Clock,
    IsolatedSettings,
    Mailbox,
    client_of,
    free_port,
    log_in,
)

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
    connection.commit()  # the migrations commit revision by revision
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _setup_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An engine for preparing the test database: no pool, and a server that does not answer fails fast."""
    connect_args = {} if make_url(url).get_backend_name() == "sqlite" else {"timeout": 5}
    return create_async_engine(url, poolclass=NullPool, connect_args=connect_args, **options)


async def _why_unusable(url: str, *, per_worker: bool) -> str | None:
    engine = _setup_engine(url)
    try:
        async with engine.connect() as connection:
            if per_worker and not await connection.scalar(
                text("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
            ):
                return "its role may not create the per-worker databases: grant CREATEDB, or run `uv run pytest`"
    except (OSError, SQLAlchemyError) as error:
        return f"{error!r}: start it or point TEST_DATABASE_URL elsewhere"
    finally:
        await engine.dispose()
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop the run at once, with one line, when the migrations or the configured database cannot be used."""
    if problem := unjoined_heads(ScriptDirectory.from_config(Config(str(PROJECT_DIR / "alembic.ini")))):
        pytest.exit(problem, 1)
    url = _configured_database_url()
    if url is None or is_xdist_worker(session):  # the controller has checked for its workers
        return
    creates_databases = is_xdist_controller(session) and make_url(url).get_backend_name() == "postgresql"
    problem = asyncio.run(_why_unusable(url, per_worker=creates_databases))
    if problem:
        pytest.exit(f"test database {make_url(url).render_as_string(hide_password=True)} cannot be used: {problem}", 1)


async def _database_of_worker(url: str, worker_id: str) -> str:
    """The configured database, or under pytest-xdist a sibling per worker (on PostgreSQL created once)."""
    if worker_id == "master":  # not distributed
        return url
    configured = make_url(url)
    if configured.get_backend_name() == "sqlite":  # SQLite creates the file
        file = Path(str(configured.database))
        return configured.set(database=str(file.with_stem(f"{file.stem}_{worker_id}"))).render_as_string()
    name = f"{configured.database}_{worker_id}"
    server = _setup_engine(configured, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            found = await connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not found:
                await connection.execute(text(f"CREATE DATABASE {connection.dialect.identifier_preparer.quote(name)}"))
    finally:
        await server.dispose()
    return configured.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """The migrated test database of this worker."""
    configured = _configured_database_url()
    if configured:
        url = await _database_of_worker(configured, worker_id)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = _setup_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_drop_and_migrate)
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
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    """A real SMTP server (aiosmtpd, in a thread of this process) that keeps what it receives."""
    received = Mailbox()
    # aiosmtpd logs every connection at INFO from its own thread: noise in the tests' output.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = Controller(received, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        yield server, received
    finally:
        server.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Controller, Mailbox]) -> Mailbox:
    """The messages the test's service sent (emptied for each test)."""
    received = smtp_server[1]
    received.clear()
    return received


@pytest.fixture(scope="session")
def settings_factory(
    database_url: str,
    smtp_server: tuple[Controller, Mailbox],
{%- if cookiecutter.use_celery %}
    job_queue_dir: Path,
{%- endif %}
) -> Callable[..., Settings]:
    """Test settings: fast password hashing, the test database, mail to the test SMTP server, overrides."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "secret_key": SECRET_KEY,
            "totp_encryption_key": TOTP_ENCRYPTION_KEY,
            "database_startup_attempts": 1,
            "argon2_time_cost": 1,
            "argon2_memory_cost_kib": 8,
            "argon2_parallelism": 1,
            "log_format": "json",
            "email_backend": "smtp",
            "smtp_host": smtp_server[0].hostname,
            "smtp_port": smtp_server[0].port,
            "smtp_security": "none",
{%- if cookiecutter.use_celery %}
            "celery_broker_url": f"sqla+sqlite:///{job_queue_dir / 'broker.db'}",
            "celery_result_backend": f"db+sqlite:///{job_queue_dir / 'results.db'}",
            "celery_worker_metrics_port": 0,
            "email_via_celery": False,  # after the response; the worker's own test turns it on
            "export_rate_limit": "1000/minute",  # the limit has a test of its own
{%- endif %}
            # Tests register many accounts from one client; the limits have tests of their own.
            "email_rate_limit_per_address": "1000/minute",
            "email_rate_limit_per_client": "1000/minute",
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


@pytest.fixture(scope="session")
async def started_app() -> AsyncIterator[Callable[[Settings], Awaitable[FastAPI]]]:
    """This worker's started app for some settings, started on first use and stopped at the end of the run.

    FastAPI builds an app's routes on its first request, which costs more than most tests, so tests
    with equal settings share one app.
    """
    started: list[tuple[Settings, FastAPI]] = []
    async with AsyncExitStack() as lifespans:

        async def app_for(settings: Settings) -> FastAPI:
            for started_settings, application in started:
                if started_settings == settings:
                    return application
            application = create_app(settings)
            await lifespans.enter_async_context(application.router.lifespan_context(application))
            started.append((settings, application))
            return application

        yield app_for


@pytest.fixture
async def app(
    request: pytest.FixtureRequest,
    settings: Settings,
    mailbox: Mailbox,
    started_app: Callable[[Settings], Awaitable[FastAPI]],
) -> AsyncIterator[FastAPI]:
    """A started app for the test's settings on empty tables and mailbox, with no login counted.

    Tests with equal settings share it. A test marked `own_app`, because it adds routes or checks
    or counts metrics from zero, gets a new one.
    """
    if request.node.get_closest_marker("own_app"):
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            await _empty_tables(application.state.context)
            yield application
        return
    application = await started_app(settings)
    context: AppContext = application.state.context
    configure_logging(settings)  # into this test's captured output, and at its settings' level
    await context.login_guard.reset()
    await _empty_tables(context)
    yield application


@pytest.fixture
def app_context(app: FastAPI) -> AppContext:
    context: AppContext = app.state.context
    return context


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_of(app) as http_client:
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


async def _verify_address(context: AppContext, account: Account) -> Account:
    """The account with its e-mail address verified (as following the link would)."""
    async with context.database.sessions() as session:
        await session.execute(update(User).where(User.email == account.email).values(email_verified_at=utc_now()))
        await session.commit()
    return account


@pytest.fixture
async def verified_account(account: Account, app_context: AppContext) -> Account:
    return await _verify_address(app_context, account)


@pytest.fixture
async def verified_admin(admin: Account, app_context: AppContext) -> Account:
    return await _verify_address(app_context, admin)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Stands in for the clock two-factor codes are checked against, so a test can use each step once."""
    clock = Clock()
    monkeypatch.setattr(two_factor, "utc_now", lambda: clock.now)
    return clock
