"""Command line: `python -m <package> serve | migrate | create-user | purge-audit-events | purge-expired-credentials
| rotate-totp-secrets | openapi` (also a script)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import uvicorn
from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from .api.v1.schemas import Registration
from .core.availability import is_unavailable
from .core.exceptions import ConflictError
from .core.logging import configure_logging
from .core.security import PasswordHasher
from .core.two_factor import SecretBox
from .db.engine import Database
from .db.models import Role
from .observability.multiprocess import MetricsDirectoryError, multiprocess_mode
from .openapi import DOCUMENT_PATH
from .services.audit import AuditTrail, Origin, purge_expired_events
from .services.auth import purge_expired_credentials, register_user
from .services.two_factor import rotate_totp_secrets
from .settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

PACKAGE = __package__ or __name__.partition(".")[0]
REFUSED_CONNECTION_SQLSTATES = ("28", "3D000")
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout ran out
# A database that was reached but refused the work: said as it is, not as "cannot connect".
REACHED_BUT_REFUSED = {
    "57014": "cancelled a statement that ran longer than its statement_timeout",
    "25006": "is read-only (a standby?): point DATABASE_URL at the primary",
}
Command = Callable[[Settings, argparse.Namespace], int]
T = TypeVar("T")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the production server: uvicorn with uvloop and httptools, the app built by the factory."""
    configure_logging(settings)
    workers = None if args.reload else settings.workers
    with multiprocess_mode(workers or 1):  # /metrics sums every worker
        uvicorn.run(
            f"{PACKAGE}.main:create_app",
            factory=True,
            host=args.host if args.host is not None else settings.host,
            port=args.port if args.port is not None else settings.port,
            workers=workers,
            reload=args.reload,
            # The package only: watching the project would scan .venv's thousands of files all the time.
            reload_dirs=[str(Path(__file__).parent)] if args.reload else None,
            loop="uvloop",
            http="httptools",
            log_config=None,  # keep the structured logging configured above
            access_log=False,  # the service logs one access line per request itself
            server_header=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        )
    return 0


def unjoined_heads(scripts: ScriptDirectory) -> str | None:
    """What to do when the migrations end in more than one revision; None when they end in one.

    A template update that adds revisions branches them off the same parent as the project's own.
    """
    heads = scripts.get_heads()
    if len(heads) < 2:
        return None
    return (
        f"migrations/ ends in {len(heads)} revisions ({', '.join(sorted(heads))}), as after a template update that"
        " added its own: join them with `uv run alembic merge heads -m 'join migrations'` and commit the new file"
    )


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply Alembic migrations up to `revision` (default: the newest).

    A database already past this release's newest revision is left alone: a release rolled back
    after additive migrations must start (its image migrates before it serves).
    """
    # Imported here: Alembic adds a noticeable share to every other command's start-up time.
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    configure_logging(settings)
    if not args.config.is_file():
        print(f"{args.config} not found: run from the project directory or pass --config", file=sys.stderr)
        return 1
    config = Config(str(args.config))
    scripts = ScriptDirectory.from_config(config)
    if args.revision == "head" and (problem := unjoined_heads(scripts)):
        print(f"cannot migrate: {problem}", file=sys.stderr)
        return 1
    known = {script.revision for script in scripts.walk_revisions()}
    newer = asyncio.run(_database_revisions(settings)) - known
    if newer and args.revision == "head":
        print(f"the database is at {', '.join(sorted(newer))}, newer than this release: nothing to migrate")
        return 0
    try:
        command.upgrade(config, args.revision)
    except CommandError as error:
        print(f"cannot migrate: {error}", file=sys.stderr)
        return 1
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        print(
            "cannot migrate: another transaction held a lock for longer than DATABASE_MIGRATION_LOCK_TIMEOUT_SECONDS;"
            " the revisions before the one that waited are applied (`alembic current`), try again once it ends",
            file=sys.stderr,
        )
        return 1
    return 0


async def _database_revisions(settings: Settings) -> set[str]:
    """The revisions the database records (none before its first migration)."""
    from alembic.runtime.migration import MigrationContext

    database = Database(settings)
    try:
        async with database.engine.connect() as connection:
            heads = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
    finally:
        await database.dispose()
    return set(heads)


def create_user(settings: Settings, args: argparse.Namespace) -> int:
    """Create an account from the command line (password from stdin or an interactive prompt).

    `--admin` makes the first administrator; later ones are promoted through the admin API.
    """
    configure_logging(settings)
    if not args.password_stdin and not sys.stdin.isatty():
        print("no terminal to ask for the password on: pass it with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else _prompt_password()
    try:
        registration = Registration(email=args.email, password=password)
    except ValidationError as error:
        for problem in error.errors():
            print(f"{problem['loc'][0]}: {problem['msg']}", file=sys.stderr)
        return 1
    role = Role.ADMIN if args.admin else Role.MEMBER
    return asyncio.run(_create_user(settings, registration.email, registration.password, role))


def _prompt_password() -> str:
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise SystemExit("passwords do not match")
    return password


async def _create_user(settings: Settings, email: str, password: str, role: Role) -> int:
    database = Database(settings)
    try:
        async with database.sessions() as session:
            audit = AuditTrail(session, Origin())  # no client: the command line
            # The operator vouches for the address: the account needs no verification link.
            user = await register_user(
                session, PasswordHasher(settings), audit, email, password, role, email_verified=True
            )
    except ConflictError as error:
        print(error.message, file=sys.stderr)
        return 1
    finally:
        await database.dispose()
    print(f"created {user.role} {user.id} <{user.email}>")
    return 0


def purge_audit_events(settings: Settings, args: argparse.Namespace) -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS (schedule it daily)."""
    retention = timedelta(days=settings.audit_retention_days)
    purged = _in_a_session(settings, lambda session: purge_expired_events(session, retention))
    print(f"purged {purged} audit events older than {settings.audit_retention_days} days")
    return 0


def purge_credentials(settings: Settings, args: argparse.Namespace) -> int:
    """Delete login sessions, refresh tokens and account tokens past their expiry (schedule it hourly)."""
    purged = _in_a_session(settings, purge_expired_credentials)
    print("purged expired " + ", ".join(f"{table}: {count}" for table, count in purged.items()))
    return 0


def reencrypt_totp_secrets(settings: Settings, args: argparse.Namespace) -> int:
    """Re-encrypt the two-factor secrets with TOTP_ENCRYPTION_KEY (docs/operations.md, Secret rotation)."""
    rotation = _in_a_session(settings, lambda session: rotate_totp_secrets(session, SecretBox(settings.totp_keys)))
    print(f"re-encrypted {rotation.reencrypted} two-factor secrets with TOTP_ENCRYPTION_KEY")
    if rotation.undecryptable:
        users = ", ".join(map(str, rotation.undecryptable))
        print(
            f"no key in TOTP_ENCRYPTION_KEY or TOTP_ENCRYPTION_KEY_FALLBACKS decrypts the two-factor secret of"
            f" users {users}: they log in with a recovery code, or an admin resets their two-factor login",
            file=sys.stderr,
        )
        return 1
    return 0


def _in_a_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a database session of its own, with the service's logging."""
    configure_logging(settings)

    async def run() -> T:
        database = Database(settings)
        try:
            async with database.sessions() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


def openapi(settings: Settings, args: argparse.Namespace) -> int:
    """Write the OpenAPI document (default docs/openapi.json; `-` for standard output)."""
    # Imported here: building the app imports every router, which the other commands do not need.
    from .main import create_app
    from .openapi import render

    text = render(create_app(settings))
    if args.output == Path("-"):
        sys.stdout.write(text)
        return 0
    if not args.output.parent.is_dir():
        print(
            f"cannot write {args.output}: no folder {args.output.parent} (run from the project directory?)",
            file=sys.stderr,
        )
        return 1
    args.output.write_text(text, encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {PACKAGE}", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the HTTP server (HOST, PORT, WORKERS from settings)")
    serve_parser.add_argument("--host", help="overrides HOST")
    serve_parser.add_argument("--port", type=_port, help="overrides PORT")
    serve_parser.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve_parser.set_defaults(handler=serve)

    migrate_parser = commands.add_parser("migrate", help="apply database migrations")
    migrate_parser.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    migrate_parser.add_argument("--config", type=Path, default=Path("alembic.ini"), help="path to alembic.ini")
    migrate_parser.set_defaults(handler=migrate)

    user_parser = commands.add_parser("create-user", help="create an account")
    user_parser.add_argument("--email", required=True)
    user_parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user_parser.add_argument("--admin", action="store_true", help="give the account the admin role")
    user_parser.set_defaults(handler=create_user)

    purge_parser = commands.add_parser("purge-audit-events", help="delete audit events past AUDIT_RETENTION_DAYS")
    purge_parser.set_defaults(handler=purge_audit_events)

    credentials_parser = commands.add_parser(
        "purge-expired-credentials", help="delete login sessions, refresh and account tokens past their expiry"
    )
    credentials_parser.set_defaults(handler=purge_credentials)

    rotate_parser = commands.add_parser(
        "rotate-totp-secrets", help="re-encrypt the two-factor secrets with TOTP_ENCRYPTION_KEY"
    )
    rotate_parser.set_defaults(handler=reencrypt_totp_secrets)

    openapi_parser = commands.add_parser("openapi", help="export the OpenAPI document for the repository")
    openapi_parser.add_argument("--output", type=Path, default=DOCUMENT_PATH, help=f"default: {DOCUMENT_PATH}")
    openapi_parser.set_defaults(handler=openapi)
    return parser


def _port(value: str) -> int:
    port = int(value) if value.isdecimal() else 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    handler: Command = args.handler
    try:
        return handler(settings, args)
    except MetricsDirectoryError as error:  # `serve` with several workers on a read-only filesystem
        print(error, file=sys.stderr)
        return 1
    except Exception as error:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        if _not_migrated(error):
            print(f"the database at {url} is behind this release: run `python -m {PACKAGE} migrate`", file=sys.stderr)
            return 1
        refusal = REACHED_BUT_REFUSED.get(getattr(getattr(error, "orig", None), "sqlstate", None) or "")
        if refusal:
            print(f"the database at {url} {refusal}", file=sys.stderr)
            return 1
        if not _cannot_connect(error):
            raise
        reason = _reason(error)
        if reason.startswith("TimeoutError"):  # connecting or a statement: the driver does not say which
            timeouts = "DATABASE_CONNECT_TIMEOUT_SECONDS to connect, DATABASE_COMMAND_TIMEOUT_SECONDS per statement"
            print(f"the database at {url} did not answer in time ({timeouts})", file=sys.stderr)
            return 1
        # `serve` waits for the database itself; the one-off commands have nothing to wait for.
        print(f"cannot connect to the database at {url}: {reason}", file=sys.stderr)
        return 1


def _not_migrated(error: BaseException) -> bool:
    """A table or column is missing: PostgreSQL's undefined_table (42P01) or undefined_column
    (42703); SQLite's "no such table", "no such column" or "has no column named"."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in ("42P01", "42703"):
        return True
    return any(problem in str(error.orig) for problem in ("no such table", "no such column", "has no column named"))


def _cannot_connect(error: BaseException) -> bool:
    """Unreachable, or refused for what DATABASE_URL says: the credentials or the database's name
    (PostgreSQL's SQLSTATE class 28 and 3D000), or a SQLite file that cannot be opened."""
    if is_unavailable(error):
        return True
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(REFUSED_CONNECTION_SQLSTATES)
    return getattr(error.orig, "sqlite_errorname", None) == "SQLITE_CANTOPEN"


def _reason(error: BaseException) -> str:
    cause = error
    if isinstance(error, DBAPIError) and error.orig is not None:
        # The driver's own exception: SQLAlchemy's asyncpg adapter wraps it in a plain "Error".
        cause = error.orig.__cause__ or error.orig
    return f"{type(cause).__name__}: {cause}"


if __name__ == "__main__":
    sys.exit(main())
