"""Which database errors are outages (DESIGN.md 5: "only connection-level errors count as an outage").

An outage is the database being out of reach or refusing work for now: the connection was
lost or refused, the server is shutting down or restarting, it has no connection slots left,
SQLite's file is locked or cannot be opened. Waiting and retrying fixes it. Anything else
("too many SQL variables", a constraint, a programming error) fails the same way every time,
so retrying it would only loop.
"""

from __future__ import annotations

import sqlite3

from django.db import InterfaceError, OperationalError

# SQLSTATE classes and codes of PostgreSQL that mean "not reachable now": 08 connection
# exception, 53 insufficient resources (too many connections, out of memory or disk),
# 57P01-57P03 administrator or crash shutdown, server starting up.
_PG_OUTAGE_PREFIXES = ("08", "53", "57P")
# SQLite primary result codes of the same kind: BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_OUTAGE_CODES = frozenset({5, 6, 10, 13, 14, 15})


def is_outage(error: BaseException) -> bool:
    """True if `error` means the database cannot be reached now, and a retry may succeed."""
    if isinstance(error, InterfaceError):
        return True  # Django's "connection already closed"
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_OUTAGE_CODES
    sqlstate = getattr(cause, "sqlstate", None)
    # psycopg reports a dropped or refused connection without a SQLSTATE.
    return sqlstate is None or sqlstate.startswith(_PG_OUTAGE_PREFIXES)
