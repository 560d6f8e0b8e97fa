"""The command line: serve, migrate, create-user, the purges, and a clear message for bad settings."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import uvicorn
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{ cookiecutter.package_name }}.__main__ import main
from {{ cookiecutter.package_name }}.core.security import PasswordHasher
from {{ cookiecutter.package_name }}.core.two_factor import SecretBox
from {{ cookiecutter.package_name }}.services import two_factor
from {{ cookiecutter.package_name }}.settings import get_settings

from ..support import PASSWORD, TOTP_ENCRYPTION_KEY, free_port

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[2]
MIGRATE = ["migrate", "--config", str(PROJECT_DIR / "alembic.ini")]
EARLIER_TOTP_KEY = "an-earlier-totp-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret
LOST_TOTP_KEY = "a-lost-totp-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # pragma: allowlist secret
NOT_MIGRATED = f"is behind this release: run `python -m {PACKAGE} migrate`\n"


@pytest.fixture
def database_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean environment (no .env, no inherited settings) with a fresh SQLite file."""
    monkeypatch.chdir(tmp_path)
    for name in ("ENVIRONMENT", "DATABASE_URL", "SECRET_KEY", "REDIS_URL", "LOG_FORMAT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARGON2_MEMORY_COST_KIB", "8")
    monkeypatch.setenv("ARGON2_TIME_COST", "1")
    monkeypatch.setenv("ARGON2_PARALLELISM", "1")
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def migrate(database_file: Path) -> None:
    assert main(MIGRATE) == 0


def rows(database_file: Path, query: str) -> list[Any]:
    with closing(sqlite3.connect(database_file)) as connection:
        return connection.execute(query).fetchall()


def test_migrate_creates_the_schema(database_file: Path) -> None:
    migrate(database_file)
    tables = {row[0] for row in rows(database_file, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "items", "login_sessions", "refresh_tokens", "audit_events", "alembic_version"} <= tables


def test_migrate_needs_its_configuration(database_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--config", "missing.ini"]) == 1
    assert "missing.ini not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        MIGRATE,
        ["create-user", "--email", "ops@example.com", "--password-stdin"],
        ["purge-audit-events"],
        ["purge-expired-credentials"],
        ["rotate-totp-secrets"],
    ],
    ids=["migrate", "create-user", "purge-audit-events", "purge-expired-credentials", "rotate-totp-secrets"],
)
def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    url = f"postgresql://app:not-for-logs@127.0.0.1:{free_port()}/app"  # pragma: allowlist secret
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(command) == 1
    error = capsys.readouterr().err
    assert error.startswith("cannot connect to the database at postgresql+asyncpg://app:***@127.0.0.1:"), error
    assert error.count("\n") == 1
    assert "not-for-logs" not in error


def _postgresql_test_url() -> URL:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("set TEST_DATABASE_URL to a PostgreSQL database to run this case")
    return make_url(url)


@pytest.mark.parametrize(
    ("refused_url", "reason"),
    [
        pytest.param(
            lambda tmp_path: f"sqlite+aiosqlite:///{tmp_path}/no-such-directory/app.db",
            "unable to open database file",
            # After a failed connect, aiosqlite's worker thread may report to the already closed
            # event loop (omnilib/aiosqlite#389); the test joins it, so this is where it shows.
            marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
        ),
        # "password authentication failed for user …" or "role … does not exist", as the server's authentication is set up
        (lambda _: _postgresql_test_url().set(username="no_such_role"), '"no_such_role"'),
        (lambda _: _postgresql_test_url().set(database="no_such_database"), 'database "no_such_database" does not'),
    ],
    ids=["sqlite-missing-directory", "postgresql-unknown-role", "postgresql-missing-database"],
)
def test_a_refused_connection_is_one_line_naming_the_reason(
    database_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    refused_url: Callable[[Path], str | URL],
    reason: str,
) -> None:
    url = refused_url(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url if isinstance(url, str) else url.render_as_string(hide_password=False))
    threads = set(threading.enumerate())
    assert main(MIGRATE) == 1
    for thread in set(threading.enumerate()) - threads:
        thread.join(timeout=10)
    error = capsys.readouterr().err
    assert error.startswith("cannot connect to the database at "), error
    assert reason in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    "command",
    [["create-user", "--email", "ops@example.com", "--password-stdin"], ["purge-audit-events"]],
    ids=["create-user", "purge-audit-events"],
)
def test_a_database_without_its_tables_is_one_line_saying_to_migrate(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(command) == 1
    error = capsys.readouterr().err
    assert error.endswith(NOT_MIGRATED), error
    assert error.count("\n") == 1


def test_a_database_behind_the_release_is_one_line_saying_to_migrate(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*MIGRATE, "0007"]) == 0  # before audit details
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    capsys.readouterr()
    assert main(["create-user", "--email", "ops@example.com", "--password-stdin"]) == 1
    error = capsys.readouterr().err
    assert error.endswith(NOT_MIGRATED), error
    assert error.count("\n") == 1


def test_create_user_from_stdin(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-user", "--email", "Admin@Example.com", "--password-stdin"]) == 0
    assert "created member 1 <admin@example.com>" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-user", "--email", "admin@example.com", "--password-stdin"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_create_user_makes_the_first_admin(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-user", "--admin", "--email", "root@example.com", "--password-stdin"]) == 0
    assert "created admin 1 <root@example.com>" in capsys.readouterr().out
    assert rows(database_file, "SELECT role FROM users WHERE email = 'root@example.com'") == [("admin",)]
    assert rows(database_file, "SELECT action, actor_id, client_ip FROM audit_events") == [("user.register", 1, None)]


def test_purge_audit_events_keeps_the_retention_period(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    with closing(sqlite3.connect(database_file)) as connection, connection:  # closed after the commit
        connection.executemany(
            "INSERT INTO audit_events (occurred_at, action, outcome) VALUES (?, 'auth.login', 'success')",
            [("2000-01-01 00:00:00",), ("2999-01-01 00:00:00",)],
        )
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "30")
    assert main(["purge-audit-events"]) == 0
    assert "purged 1 audit events older than 30 days" in capsys.readouterr().out
    assert rows(database_file, "SELECT occurred_at FROM audit_events") == [("2999-01-01 00:00:00",)]


def test_purge_expired_credentials_keeps_what_can_still_be_used(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-user", "--email", "ada@example.com", "--password-stdin"]) == 0
    past, future = "2000-01-01 00:00:00", "2999-01-01 00:00:00"
    with closing(sqlite3.connect(database_file)) as connection, connection:  # closed after the commit
        connection.executemany(
            "INSERT INTO login_sessions (id, user_id, created_at, last_used_at, expires_at) VALUES (?, 1, ?, ?, ?)",
            [("over", past, past, past), ("live", past, past, future)],
        )
        connection.executemany(
            "INSERT INTO refresh_tokens (jti, session_id, user_id, created_at, expires_at) VALUES (?, ?, 1, ?, ?)",
            [
                ("of-the-over-session", "over", past, future),
                ("rotated", "live", past, past),
                ("current", "live", past, future),
            ],
        )
        connection.executemany(
            "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at)"
            " VALUES (?, 1, 'password_reset', ?, ?)",
            [("spent-link", past, past), ("open-link", past, future)],
        )
    capsys.readouterr()

    assert main(["purge-expired-credentials"]) == 0

    # The session that is over takes its refresh token with it; only the expired one is counted.
    assert "purged expired refresh_tokens: 1, login_sessions: 1, account_tokens: 1\n" in capsys.readouterr().out
    assert rows(database_file, "SELECT id FROM login_sessions") == [("live",)]
    assert rows(database_file, "SELECT jti FROM refresh_tokens") == [("current",)]
    assert rows(database_file, "SELECT token_hash FROM account_tokens") == [("open-link",)]


def test_rotate_totp_secrets_reencrypts_with_the_current_key_and_names_the_users_no_key_decrypts(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    for email in ("ada@example.com", "bob@example.com", "eve@example.com", "cy@example.com"):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert main(["create-user", "--email", email, "--password-stdin"]) == 0
    earlier, lost = SecretBox([EARLIER_TOTP_KEY]), SecretBox([LOST_TOTP_KEY])
    undecryptable = lost.encrypt("EVESSECRET")
    with closing(sqlite3.connect(database_file)) as connection, connection:  # closed after the commit
        connection.executemany(
            "UPDATE users SET totp_secret = ? WHERE id = ?",
            [(earlier.encrypt("ADASSECRET"), 1), (earlier.encrypt("BOBSSECRET"), 2), (undecryptable, 3)],
        )  # user 4 has no two-factor login
    monkeypatch.setenv("TOTP_ENCRYPTION_KEY", TOTP_ENCRYPTION_KEY)
    monkeypatch.setenv("TOTP_ENCRYPTION_KEY_FALLBACKS", EARLIER_TOTP_KEY)
    monkeypatch.setattr(two_factor, "ROTATION_BATCH_SIZE", 1)  # several batches
    capsys.readouterr()

    assert main(["rotate-totp-secrets"]) == 1

    output = capsys.readouterr()
    assert output.out.endswith("\nre-encrypted 2 two-factor secrets with TOTP_ENCRYPTION_KEY\n")  # after the log line
    assert "decrypts the two-factor secret of users 3: they log in with a recovery code" in output.err
    assert output.err.count("\n") == 1
    stored = dict(rows(database_file, "SELECT id, totp_secret FROM users"))
    current = SecretBox([TOTP_ENCRYPTION_KEY])
    assert (current.decrypt(stored[1]), current.decrypt(stored[2])) == ("ADASSECRET", "BOBSSECRET")
    assert (stored[3], stored[4]) == (undecryptable, None)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_create_user_prompts_twice(database_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(database_file)
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSWORD)
    assert main(["create-user", "--email", "ops@example.com"]) == 0
    answers = iter([PASSWORD, "something else entirely"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    with pytest.raises(SystemExit, match="do not match"):
        main(["create-user", "--email", "ops2@example.com"])


def test_create_user_without_a_terminal_wants_password_stdin(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    # cron, CI, an exec into a container without -t: no terminal, though input may be there
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n{PASSWORD}\n"))
    assert main(["create-user", "--email", "ops@example.com"]) == 2
    assert "pass it with --password-stdin" in capsys.readouterr().err
    assert rows(database_file, "SELECT email FROM users") == []


def test_password_stdin_takes_a_windows_line_end_off(database_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(database_file)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\r\n"))
    assert main(["create-user", "--email", "ops@example.com", "--password-stdin"]) == 0
    ((stored,),) = rows(database_file, "SELECT password_hash FROM users")
    assert asyncio.run(PasswordHasher(get_settings()).verify(PASSWORD, stored))[0]


def test_migrate_leaves_a_database_from_a_newer_release_alone(
    database_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(database_file)
    with closing(sqlite3.connect(database_file)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from-a-newer-release'")
    capsys.readouterr()
    migrate(database_file)  # the rolled-back release's image migrates before it serves: it must start
    assert "newer than this release: nothing to migrate" in capsys.readouterr().out
    assert main([*MIGRATE, "0001"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("cannot migrate: ")
    assert error.count("\n") == 1


def test_migrate_refuses_migrations_that_end_in_two_revisions_and_says_how_to_join_them(
    database_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = database_file.parent / "project"
    shutil.copytree(PROJECT_DIR / "migrations", project / "migrations")
    shutil.copy(PROJECT_DIR / "alembic.ini", project)
    # A revision the project made on 0001, beside the template's 0002 that an update brought.
    (project / "migrations" / "versions" / "own_revision.py").write_text(
        '"""A revision made in the project before the update."""\n\nrevision = "own"\ndown_revision = "0001"\n'
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None: ...\n\n\ndef downgrade() -> None: ...\n"
    )
    assert main(["migrate", "--config", str(project / "alembic.ini")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("cannot migrate: migrations/ ends in 2 revisions (")
    assert "`uv run alembic merge heads -m 'join migrations'`" in error
    assert error.count("\n") == 1
    assert not database_file.exists()


@pytest.fixture
def new_database() -> Iterator[URL]:
    """A database of its own on the PostgreSQL server of TEST_DATABASE_URL, dropped afterwards."""
    server = _postgresql_test_url()
    name = f"cli_{uuid4().hex[:8]}"
    asyncio.run(_run_sql(server, f'CREATE DATABASE "{name}"'))
    yield server.set(database=name)
    asyncio.run(_run_sql(server, f'DROP DATABASE "{name}"'))


def test_migrations_started_at_once_take_turns(new_database: URL) -> None:
    """The waiting run holds no snapshot meanwhile: the other's CREATE INDEX CONCURRENTLY waits for older ones."""
    url = new_database.render_as_string(hide_password=False)
    command = [sys.executable, "-m", PACKAGE, "migrate", "--config", str(PROJECT_DIR / "alembic.ini")]
    runs = [
        subprocess.Popen(command, env={**os.environ, "DATABASE_URL": url}, stderr=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(2)
    ]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [stderr[-2000:] for _, stderr in results]


def test_a_hosting_platforms_sslmode_is_understood(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, new_database: URL
) -> None:
    """Platforms hand out URLs with libpq's `?sslmode=`, which asyncpg calls `ssl`."""
    url = new_database.set(query={"sslmode": "disable"})  # the test server has no TLS
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    assert main(MIGRATE) == 0


def test_a_migration_waiting_on_a_locked_table_stops_in_one_line(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], new_database: URL
) -> None:
    monkeypatch.setenv("DATABASE_URL", new_database.render_as_string(hide_password=False))
    monkeypatch.setenv("DATABASE_MIGRATION_LOCK_TIMEOUT_SECONDS", "0.2")
    assert main([*MIGRATE, "0006"]) == 0
    # A long transaction reads the table that 0007 alters, like a report or a pg_dump.
    with in_an_open_transaction(new_database, "SELECT count(*) FROM login_sessions"):
        capsys.readouterr()
        assert main(MIGRATE) == 1
        error = capsys.readouterr().err
    assert error.startswith("cannot migrate: another transaction held a lock"), error
    assert error.count("\n") == 1
    assert main(MIGRATE) == 0  # once it ends, the next attempt goes through


# A login writing its audit event, its transaction still open.
AUDIT_WRITE = "INSERT INTO audit_events (occurred_at, action, outcome) VALUES (now(), 'login', 'success')"


def test_audit_events_are_written_while_their_index_builds(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, new_database: URL
) -> None:
    monkeypatch.setenv("DATABASE_URL", new_database.render_as_string(hide_password=False))
    assert main([*MIGRATE, "0008"]) == 0
    results: list[int] = []
    with in_an_open_transaction(new_database, AUDIT_WRITE):
        migration = threading.Thread(target=lambda: results.append(main(MIGRATE)))
        migration.start()
        _wait_until(new_database, INDEX_BUILD_WAITING)
        # A plain CREATE INDEX would queue this write behind it until the open transaction ends.
        asyncio.run(_run_sql(new_database, "SET lock_timeout = '5s'", AUDIT_WRITE))
    migration.join(timeout=60)
    assert results == [0]
    assert asyncio.run(_index_is_valid(new_database, "ix_audit_events_target_id_id")) is True


@pytest.mark.parametrize(
    ("before", "index"),
    [("0008", "ix_audit_events_target_id_id"), ("0009", "uq_items_owner_id_idempotency_key")],
    ids=["audit-events-by-target", "items-by-idempotency-key"],
)
def test_an_interrupted_index_build_is_redone_by_the_next_migration(
    database_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    new_database: URL,
    before: str,
    index: str,
) -> None:
    """Also when the revisions before the index's went through: what they changed is committed."""
    monkeypatch.setenv("DATABASE_URL", new_database.render_as_string(hide_password=False))
    monkeypatch.setenv("DATABASE_MIGRATION_LOCK_TIMEOUT_SECONDS", "0.2")
    assert main([*MIGRATE, before]) == 0
    # A report's long read: a build CONCURRENTLY waits for every snapshot older than itself.
    with in_an_open_transaction(new_database, "SELECT count(*) FROM users", isolation_level="REPEATABLE READ"):
        assert main(MIGRATE) == 1
    assert capsys.readouterr().err.startswith("cannot migrate: another transaction held a lock")
    assert asyncio.run(_index_is_valid(new_database, index)) is False  # left behind, unusable
    assert main(MIGRATE) == 0
    assert asyncio.run(_index_is_valid(new_database, index)) is True


INDEX_BUILD_WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CREATE INDEX%'"
)


def _wait_until(url: URL, counting_query: str) -> None:
    for _ in range(300):
        if asyncio.run(_scalar(url, counting_query)):
            return
        time.sleep(0.1)
    raise AssertionError(f"never true: {counting_query}")


async def _index_is_valid(url: URL, index: str) -> object:
    """True, False for an index left invalid, None when there is none."""
    return await _scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:index)", index=index)


async def _scalar(url: URL, query: str, **parameters: object) -> object:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(text(query), parameters)
    finally:
        await engine.dispose()


def test_a_statement_that_outlasts_its_timeout_is_one_line_naming_the_timeouts(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], new_database: URL
) -> None:
    monkeypatch.setenv("DATABASE_URL", new_database.render_as_string(hide_password=False))
    assert main(MIGRATE) == 0
    monkeypatch.setenv("DATABASE_COMMAND_TIMEOUT_SECONDS", "0.5")
    with in_an_open_transaction(new_database, "LOCK TABLE audit_events IN EXCLUSIVE MODE"):  # the purge waits
        capsys.readouterr()
        assert main(["purge-audit-events"]) == 1
        error = capsys.readouterr().err
    assert error.startswith("the database at postgresql+asyncpg://"), error
    assert error.endswith(
        "did not answer in time (DATABASE_CONNECT_TIMEOUT_SECONDS to connect, "
        "DATABASE_COMMAND_TIMEOUT_SECONDS per statement)\n"
    ), error


@pytest.mark.parametrize(
    ("setting", "held", "command", "answer"),
    [
        (
            "statement_timeout = 200",
            "LOCK TABLE audit_events IN EXCLUSIVE MODE",  # the purge waits until the server cancels it
            ["purge-audit-events"],
            "cancelled a statement that ran longer than its statement_timeout",
        ),
        (  # what a standby answers when DATABASE_URL still names it after a failover
            "default_transaction_read_only = on",
            "SELECT 1",
            ["create-user", "--email", "ops@example.com", "--password-stdin"],
            "is read-only (a standby?): point DATABASE_URL at the primary",
        ),
    ],
    ids=["statement timeout", "read-only"],
)
def test_a_database_that_refuses_the_work_says_so_in_one_line(
    database_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    new_database: URL,
    setting: str,
    held: str,
    command: list[str],
    answer: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", new_database.render_as_string(hide_password=False))
    assert main(MIGRATE) == 0
    _set_for_new_sessions(new_database, setting)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    with in_an_open_transaction(new_database, held):
        capsys.readouterr()
        assert main(command) == 1
    error = capsys.readouterr().err
    assert error.endswith(f"{answer}\n"), error
    assert error.count("\n") == 1


def _set_for_new_sessions(url: URL, setting: str) -> None:
    asyncio.run(_run_sql(url, f'ALTER DATABASE "{url.database}" SET {setting}'))


@contextmanager
def in_an_open_transaction(url: URL, statement: str, isolation_level: str = "READ COMMITTED") -> Iterator[None]:
    """A transaction that has run `statement` (and holds its locks, and with REPEATABLE READ its snapshot), on
    a thread of its own, until the block ends."""
    started, finish = threading.Event(), threading.Event()

    async def hold() -> None:
        engine = create_async_engine(url, poolclass=NullPool, isolation_level=isolation_level)
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
                started.set()
                await asyncio.to_thread(finish.wait)
        finally:
            await engine.dispose()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    try:
        assert started.wait(timeout=30)
        yield
    finally:
        finish.set()
        holder.join(timeout=30)


async def _run_sql(url: URL, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def test_create_user_enforces_the_password_policy(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["create-user", "--email", "ops@example.com", "--password-stdin"]) == 1
    assert "at least 12 characters" in capsys.readouterr().err


def test_serve_runs_uvicorn_with_uvloop_and_httptools(database_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    monkeypatch.setenv("PORT", "9001")
    assert main(["serve", "--host", "0.0.0.0"]) == 0  # noqa: S104 - the argument under test
    ((app, options),) = calls
    assert app.endswith(".main:create_app")
    assert options["factory"] is True
    assert (options["loop"], options["http"]) == ("uvloop", "httptools")
    assert (options["host"], options["port"], options["workers"]) == ("0.0.0.0", 9001, 1)  # noqa: S104
    assert options["access_log"] is False


def test_serve_with_workers_and_no_writable_temporary_directory_says_what_to_mount(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(app))
    monkeypatch.setenv("WORKERS", "2")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))  # a read-only root filesystem
    assert main(["serve"]) == 1
    assert calls == []
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1
    assert "mount a writable /tmp" in error
    assert "TMPDIR" in error
    assert "PROMETHEUS_MULTIPROC_DIR" in error


@pytest.mark.parametrize("port", ["0", "70000", "abc", "-1"])
def test_serve_refuses_a_value_that_is_no_port(
    database_file: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--port", port])
    assert f"{port} is not a port (1-65535)" in capsys.readouterr().err


def test_invalid_settings_stop_every_command_with_a_message(
    database_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert main(["migrate"]) == 2
    error = capsys.readouterr().err
    assert "invalid settings" in error
    assert "SECRET_KEY is missing" in error
