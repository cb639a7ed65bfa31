"""The database's clock, and datetimes as raw statements take them (scanner/engine)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection


def db_datetime(value: datetime):
    """A datetime as this database's driver wants it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def database_now() -> datetime:
    """The database's clock, as Django's Now() reads it: every time rows are compared by (when
    a file was first and last seen, and went missing) comes from this one clock, whichever host
    scans."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT STATEMENT_TIMESTAMP()")
            return cursor.fetchone()[0]
        cursor.execute("SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')")
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)


def aware(value: datetime) -> datetime:
    """A datetime read by a raw statement (naive UTC on SQLite) as an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
