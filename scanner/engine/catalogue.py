"""Bulk writes of catalogue rows: the hot path of a first scan.

The ORM's bulk_create and bulk_update build a model instance and prepare every field of every
row, which at 100k files is most of a first scan. Here rows are plain tuples, written with
COPY on PostgreSQL and executemany on SQLite, inside the caller's transaction. Raw SQL only
because the ORM says the same thing too slowly (see bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

from django.db import connection, transaction

from libraries.models import MediaFile
from scanner.core.entries import FileEntry
from scanner.core.scope import Scope
from scanner.engine import bulkrows
from scanner.engine.facts import FACT_FIELDS, META_FIELDS, NO_FACTS

# An inserted row: these values, in this order (insert_row builds them).
INSERT_FIELDS = ("library_id", "path", "size", "mtime_ns", "inode", "device", "kind", "extension", *META_FIELDS,
                 "missing", "first_seen", "last_seen", "last_job_id", "unseen_by_job_id")
# An updated row: these values, then the row's id (update_row builds them).
UPDATE_FIELDS = ("size", "mtime_ns", "inode", "device", "kind", "extension", *META_FIELDS, "missing", "last_seen",
                 "last_job_id", "unseen_by_job_id")
BASIC_FIELDS = tuple(name for name in INSERT_FIELDS if name not in FACT_FIELDS)
class StoredFile(NamedTuple):
    """A catalogued file as rows_in_range reads it; `facts` (META_FIELDS' values) in full mode only."""

    id: int
    path: str
    size: int
    mtime_ns: int
    missing: bool
    facts: tuple | None


def inserted_path(row: tuple) -> str:
    """The path of a row insert_row or basic_insert_row built."""
    return row[1]


_BASIC_NO_FACTS = tuple(value for name, value in zip(META_FIELDS, NO_FACTS, strict=True) if name not in FACT_FIELDS)


# ----------------------------------------------------------------- rows to write
def insert_row(library_id: int, entry: FileEntry, facts: tuple, *, now, job_id: int | None) -> tuple:
    """A new file's row, in INSERT_FIELDS order (`facts`: stored_facts; `now` as db_datetime gives it)."""
    return (library_id, entry.path, entry.size, entry.mtime_ns, entry.inode, entry.device, entry.kind,
            entry.extension, *facts, False, now, now, job_id, None)


def basic_insert_row(library_id: int, entry: FileEntry, *, now, job_id: int | None) -> tuple:
    """A new file with nothing read, in BASIC_FIELDS order: the fact columns keep their defaults."""
    return (library_id, entry.path, entry.size, entry.mtime_ns, entry.inode, entry.device, entry.kind,
            entry.extension, *_BASIC_NO_FACTS, False, now, now, job_id, None)


def update_row(row_id: int, entry: FileEntry, facts: tuple, *, now, job_id: int) -> tuple:
    """A changed file's row, in UPDATE_FIELDS order, then its id."""
    return (entry.size, entry.mtime_ns, entry.inode, entry.device, entry.kind, entry.extension, *facts, False, now,
            job_id, None, row_id)


# ----------------------------------------------------------------- statements
def insert_files(rows: list[tuple], fields: tuple[str, ...] = INSERT_FIELDS) -> None:
    """Insert rows holding `fields` (INSERT_FIELDS, or BASIC_FIELDS)."""
    if not rows:
        return
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    columns = ", ".join(fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg's COPY, past Django's cursor: its errors must be wrapped as Django's are,
            # so that a lost connection is seen as an outage (common/dberrors.py).
            with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(*bulkrows.sqlite_statement(table, fields, rows))


def update_files(rows: list[tuple]) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    assignments = ", ".join(f"{name} = %s" for name in UPDATE_FIELDS)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", rows)


def refresh_statistics() -> None:
    """ANALYZE the catalogue table (PostgreSQL). While the planner's statistics know a library
    as nearly empty, it reads each page of rows_in_range by filtering all of the library's rows
    on the (library_id) index instead of reading the path range of the unique index: a page
    costs as much as the library, and a first scan grows quadratic. autovacuum fixes the
    statistics too, but a minute late, or never when it is off; PostgreSQL's own advice after
    a bulk load is to ANALYZE. Only `library_id` matters here, and a small sample (3,000 rows
    instead of 30,000) tells the libraries apart: 15 ms on a million rows, not 280."""
    if connection.vendor != "postgresql":
        return  # SQLite's planner keeps no statistics unless asked, and picks the unique index
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL default_statistics_target = 10")
        cursor.execute(f"ANALYZE {connection.ops.quote_name(MediaFile._meta.db_table)} (library_id)")


PAGE_ROWS = 5000  # rows per query of a range: memory is bounded by this, not by the range


def rows_in_range(library_id: int, lower: str, upper: str | None, *, with_meta: bool,
                  scope: Scope | None = None, page_rows: int = PAGE_ROWS) -> Iterator[StoredFile]:
    """The library's rows with `lower < path <= upper` (no upper bound when None), in path
    order, read `page_rows` at a time; in a targeted scan, only those its scope covers."""
    pages = partial(_pages, library_id, with_meta=with_meta, page_rows=page_rows)
    if not scope:
        yield from pages([(">", lower)] + ([("<=", upper)] if upper is not None else []))
        return
    for start, end in scope.segments():
        if upper is not None and start > upper:
            return
        if end is None:  # exactly one path
            if start > lower:
                yield from pages([("=", start)])
        elif end > lower:  # start <= path < end, within the run's range
            bounds = [(">", lower) if lower >= start else (">=", start)]
            bounds.append(("<=", upper) if upper is not None and upper < end else ("<", end))
            yield from pages(bounds)


def _pages(library_id: int, bounds: list[tuple[str, str]], *, with_meta: bool,
           page_rows: int) -> Iterator[StoredFile]:
    """Rows whose path meets each (operator, value) of `bounds`, in path order, a page at a time."""
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    # Without facts the last column is a NULL, so that each row is a StoredFile as it comes.
    columns = ", ".join(("id", "path", "size", "mtime_ns", "missing", *(META_FIELDS if with_meta else ("NULL",))))
    # Each later page starts after the last path of the one before.
    sql = (f"SELECT {columns} FROM {table} WHERE library_id = %s AND path > %s "
           f"{''.join(f' AND path {op} %s' for op, _ in bounds)} ORDER BY path LIMIT %s")
    after = ""  # every path is longer than this
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [library_id, after, *(value for _, value in bounds), page_rows])
            page = cursor.fetchall()
        paths = [row[1] for row in page]
        if paths != sorted(paths):  # the merge with the walk relies on this order (the "C" collation)
            raise RuntimeError("the database orders catalogue paths unlike the walk; is the C collation missing?")
        if with_meta:
            yield from (StoredFile(row[0], row[1], row[2], row[3], row[4], row[5:]) for row in page)
        else:
            yield from map(StoredFile._make, page)
        if len(page) < page_rows:
            return
        after = paths[-1]


def mark_unseen(library_id: int, job_id: int, ranges: list[tuple[str, str]]) -> None:
    """Flag the rows of these path ranges that are not missing yet as unseen by the job."""
    if not ranges:
        return
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET unseen_by_job_id = %s "
            "WHERE library_id = %s AND path >= %s AND path <= %s AND NOT missing",
            [(job_id, library_id, first, last) for first, last in ranges],
        )
