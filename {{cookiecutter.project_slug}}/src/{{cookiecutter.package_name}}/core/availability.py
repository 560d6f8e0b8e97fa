"""Which failures mean "a dependency cannot be reached right now" rather than "the code is wrong".

Only the first kind is worth a 503 and a retry: the connection was refused, reset or timed out,
the pool had no free connection, the driver invalidated the connection, the server is starting
or shutting down, cancelled a statement that ran too long or is read-only (a standby), or
SQLite's file is locked by another writer. A missing table or column, a violated constraint, a
FileNotFoundError raised by code: those are bugs (or a forgotten migration) and must surface as
500s that reach the error log and the error tracker.
"""

from __future__ import annotations

import errno
import socket
import sqlite3

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# PostgreSQL SQLSTATEs: class 08 (connection exception), class 53 (insufficient resources, e.g.
# too many connections), 57P01-57P03 (the server is shutting down, crashed or starting up),
# 57014 (a statement cancelled: the server's statement_timeout or pg_cancel_backend, like the
# service's own command timeout) and 25006 (the database is read-only: a hot standby after a
# failover, default_transaction_read_only=on).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53")
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57014", "25006"})
# SQLite: the database file stayed locked by another connection for longer than the busy timeout.
UNAVAILABLE_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED")
# OSErrors that are not ConnectionErrors but still say the host cannot be reached.
UNREACHABLE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN})


def is_unavailable(error: BaseException) -> bool:
    """True when `error` means a dependency cannot be reached now (so: 503, try again later)."""
    if isinstance(error, PoolTimeoutError):  # every connection of the pool stayed busy
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or _driver_reports_unavailable(error.orig)
    return _is_network_failure(error)


def _driver_reports_unavailable(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.Error):  # errors the sqlite3 module raised itself carry the name
        return getattr(orig, "sqlite_errorname", "").startswith(UNAVAILABLE_SQLITE_ERRORS)
    sqlstate = getattr(orig, "sqlstate", None)  # asyncpg's errors, as SQLAlchemy adapts them
    if isinstance(sqlstate, str):
        return sqlstate.startswith(UNAVAILABLE_SQLSTATE_CLASSES) or sqlstate in UNAVAILABLE_SQLSTATES
    return orig is not None and (_is_network_failure(orig) or _is_network_failure(orig.__cause__))


def _is_network_failure(error: BaseException | None) -> bool:
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return isinstance(error, OSError) and error.errno in UNREACHABLE_ERRNOS
