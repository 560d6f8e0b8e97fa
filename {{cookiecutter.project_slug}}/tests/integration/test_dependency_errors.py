"""Which failures answer 503 and which stay 500s, provoked for real on the test database.

Only a dependency that cannot be reached is a 503 (with Retry-After): clients may retry and the
service is not at fault. A missing table or column, a violated constraint, an error raised by
the code: those are bugs, answered 500 and written to the error log (and to the error tracker when
it is configured), never hidden behind "unavailable".
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from {{ cookiecutter.package_name }}.api.deps import Session
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

from ..support import CLIENT_ADDRESS, PASSWORD, Account, log_in

pytestmark = pytest.mark.own_app  # the tests add routes that raise
UNREACHABLE = "postgresql+asyncpg://app@127.0.0.1:1/app"  # nothing listens on port 1
BROKEN_STATEMENTS = {
    "missing table": "SELECT * FROM no_such_table",
    "missing column": "SELECT no_such_column FROM items",
    "constraint violation": (
        "INSERT INTO items (owner_id, title, created_at, updated_at)"
        " VALUES (-1, 'orphan', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ),
}
RAISED_BY_CODE = {
    "FileNotFoundError": FileNotFoundError(2, "No such file or directory", "/srv/missing.json"),
    "PermissionError": PermissionError(13, "Permission denied", "/srv/secret.key"),
    "RuntimeError": RuntimeError("a bug"),
}


def start(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app, client=CLIENT_ADDRESS), base_url="http://testserver")


def bearer(app: FastAPI) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.state.context.tokens.issue_access_token(1, 'session')}"}


def error_log(output: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("level") == "error"]


@pytest.fixture
def app_with_sql_route(app: FastAPI) -> FastAPI:
    """The test app with `/sql/{name}`, which runs one of BROKEN_STATEMENTS through the request's session."""

    async def run(name: str, session: Session) -> None:
        await session.execute(text(BROKEN_STATEMENTS[name]))
        await session.commit()

    app.add_api_route("/sql/{name}", run, methods=["POST"])
    return app


@pytest.mark.parametrize("name", BROKEN_STATEMENTS)
async def test_schema_and_constraint_errors_are_500s_in_the_error_log(
    app_with_sql_route: FastAPI, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    capsys.readouterr()
    async with start(app_with_sql_route) as client:
        response = await client.post(f"/sql/{name}")
    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")
    assert "retry-after" not in response.headers
    assert [line["event"] for line in error_log(capsys.readouterr().out)] == ["unhandled_error"]


@pytest.mark.parametrize("name", RAISED_BY_CODE)
async def test_errors_raised_by_the_code_are_500s(app: FastAPI, capsys: pytest.CaptureFixture[str], name: str) -> None:
    async def fail() -> None:
        raise RAISED_BY_CODE[name]

    app.add_api_route("/fail", fail)
    capsys.readouterr()
    async with start(app) as client:
        response = await client.get("/fail")
    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")
    assert [line["event"] for line in error_log(capsys.readouterr().out)] == ["unhandled_error"]


async def test_a_forgotten_migration_is_a_500_not_an_outage(
    settings_factory: Callable[..., Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings_factory(database_url=f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}"))
    capsys.readouterr()
    async with app.router.lifespan_context(app), start(app) as client:
        response = await client.get("/api/v1/items", headers=bearer(app))
    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")
    assert [line["event"] for line in error_log(capsys.readouterr().out)] == ["unhandled_error"]


async def test_a_refused_connection_is_a_503_with_retry_after(settings_factory: Callable[..., Settings]) -> None:
    app = create_app(settings_factory(database_url=UNREACHABLE))  # not started: start-up would wait for it
    async with start(app) as client:
        response = await client.get("/api/v1/items", headers=bearer(app))
        assert (await client.get("/health/live")).status_code == 200
    assert (response.status_code, response.json()["error"]["code"]) == (503, "service_unavailable")
    assert response.headers["retry-after"] == "5"


async def test_an_exhausted_pool_is_a_503(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(database_pool_size=1, database_max_overflow=0, database_pool_timeout_seconds=0.1)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        start(app) as client,
        app.state.context.database.engine.connect(),  # the pool's only connection
    ):
        response = await client.get("/api/v1/items", headers=bearer(app))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "database_unavailable")


async def test_a_locked_sqlite_database_is_a_503(settings_factory: Callable[..., Settings]) -> None:
    url = make_url(settings_factory().database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite's file lock; the PostgreSQL run provokes a terminated connection instead")
    # Give up waiting for the lock after 0.1 s instead of the driver's default 5 s.
    app = create_app(settings_factory(database_url=url.update_query_dict({"timeout": "0.1"}).render_as_string()))
    writer = sqlite3.connect(str(url.database), isolation_level=None)
    try:
        async with app.router.lifespan_context(app), start(app) as client:
            await client.post("/api/v1/auth/register", json={"email": "locked@example.com", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {(await log_in(client, 'locked@example.com'))['access_token']}"}
            writer.execute("BEGIN IMMEDIATE")  # holds the write lock; reads (the session check) still work
            response = await client.post("/api/v1/items", json={"title": "blocked"}, headers=headers)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (response.status_code, response.json()["error"]["code"]) == (503, "database_unavailable")


async def test_a_terminated_postgresql_connection_is_a_503(app: FastAPI, settings: Settings) -> None:
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL's server-side termination; the SQLite run provokes a locked file instead")

    async def killed(session: Session) -> None:
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    app.add_api_route("/killed", killed)
    async with start(app) as client:
        response = await client.get("/killed")
    assert (response.status_code, response.json()["error"]["code"]) == (503, "database_unavailable")


async def test_a_read_only_postgresql_database_is_a_503(
    app: FastAPI, client: AsyncClient, account: Account, settings: Settings
) -> None:
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL's read-only transactions (a hot standby after a failover)")
    engine = app.state.context.database.engine  # this test's own app (own_app): the setting ends with it

    def read_only(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
        dbapi_connection.autocommit = True  # the setting of a standby, or of default_transaction_read_only=on
        cursor = dbapi_connection.cursor()
        cursor.execute("SET default_transaction_read_only = on")
        cursor.close()
        dbapi_connection.autocommit = False

    event.listen(engine.sync_engine, "connect", read_only)
    await engine.dispose()  # reconnect, as after a failover
    response = await client.post("/api/v1/items", json={"title": "refused"}, headers=account.headers)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "database_unavailable")
    assert response.headers["retry-after"] == "5"


async def test_a_postgresql_statement_timeout_is_a_503(app: FastAPI, settings: Settings) -> None:
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL's server-side statement_timeout")

    async def slow(session: Session) -> None:
        await session.execute(text("SET LOCAL statement_timeout = 50"))  # as a role's statement_timeout would
        await session.execute(text("SELECT pg_sleep(5)"))

    app.add_api_route("/slow", slow)
    async with start(app) as client:
        response = await client.get("/slow")
    assert (response.status_code, response.json()["error"]["code"]) == (503, "database_unavailable")
    assert response.headers["retry-after"] == "5"
