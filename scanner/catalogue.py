"""Bulk writes of catalogue rows: the hot path of a first scan.

The ORM's bulk_create and bulk_update build a model instance and prepare every field of every
row, which at 100k files is most of a first scan. Here rows are plain tuples, written with
COPY on PostgreSQL and executemany on SQLite, inside the caller's transaction. Raw SQL only
because the ORM says the same thing too slowly (see bench/RESULTS.md).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from libraries.models import MediaFile

META_FIELDS = ("duration", "title", "artist", "album", "track", "year", "codec", "bitrate", "sample_rate")
# An inserted row: these values, in this order.
INSERT_FIELDS = ("library_id", "path", "size", "mtime_ns", "kind", "extension", *META_FIELDS, "missing",
                 "first_seen", "last_seen", "last_job_id", "unseen_by_job_id")
# An updated row: these values, then the row's id.
UPDATE_FIELDS = ("size", "mtime_ns", "kind", "extension", *META_FIELDS, "missing", "last_seen", "last_job_id",
                 "unseen_by_job_id")


def db_datetime(value: datetime):
    """A datetime as this database's driver wants it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def insert_files(rows: list[tuple]) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    columns = ", ".join(INSERT_FIELDS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(INSERT_FIELDS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


def update_files(rows: list[tuple]) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    assignments = ", ".join(f"{name} = %s" for name in UPDATE_FIELDS)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", rows)


# A catalogued row as rows_in_range returns it: these columns (META_FIELDS too in full mode).
ID, PATH, SIZE, MTIME_NS, MISSING = range(5)
KEY_FIELDS = ("id", "path", "size", "mtime_ns", "missing")


def rows_in_range(library_id: int, lower: str, upper: str | None, *, with_meta: bool) -> list[tuple]:
    """The library's rows with `lower < path <= upper` (no upper bound when None)."""
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    columns = ", ".join(KEY_FIELDS + (META_FIELDS if with_meta else ()))
    sql = f"SELECT {columns} FROM {table} WHERE library_id = %s AND path > %s"
    params: list = [library_id, lower]
    if upper is not None:
        sql += " AND path <= %s"
        params.append(upper)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
