"""Moved files keep their identity (DESIGN.md 8), decided in the transaction that completes a scan.

A catalogued file the scan did not find (flagged unseen by it) and a file the scan added, with
the same size, mtime_ns and file name, are one file moved (when no other file on either side
shares all three: an ambiguous pair stays missing plus added): the old row takes the new path and
keeps its id, `first_seen` and tags; the new row goes. The catalogue keeps no inode numbers, so
(size, mtime_ns, name) is the test: a copy keeps neither its mtime nor, usually, its folder's
name, and a rename or a move keeps both (mv, rsync -a, Sonarr's and Lidarr's imports do).

Both sides are read in (size, mtime_ns) order, a page at a time, and matched group by group,
so memory is bounded by a page and the largest group, not by how many files moved.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django.utils import timezone

from libraries.models import MediaFile
from scanner.catalogue import db_datetime

PAGE_ROWS = 5000
IDS_PER_STATEMENT = 1000


def apply_moves(library_id: int, job_id: int) -> int:
    """Pair the job's unseen rows with the rows it added, move the old rows, drop the new ones;
    how many files moved. Call inside the transaction that completes the job."""
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    gone = _ordered(table, "unseen_by_job_id = %s", [library_id, job_id])
    # Rows this job inserted: written by it once, as new (an update keeps the old first_seen).
    added = _ordered(table, "last_job_id = %s AND first_seen = last_seen AND NOT missing", [library_id, job_id])
    pairs: list[tuple[int, int, str]] = []  # (old id, new id, new path)
    moved = 0
    for old_group, new_group in _common_groups(gone, added):
        # Only one file of that name on each side: two albums' "01.mp3" with one size and
        # mtime, both moved, cannot be told apart, and a wrong pair would swap their tags.
        olds, news = _by_name(old_group), _by_name(new_group)
        for name, old in olds.items():
            new = news.get(name)
            if new is not None:
                pairs.append((old[0], new[0], new[1]))  # (old id, new id, new path)
        if len(pairs) >= IDS_PER_STATEMENT:
            moved += _move(table, pairs, job_id)
            pairs = []
    return moved + _move(table, pairs, job_id)


def _move(table: str, pairs: list[tuple[int, int, str]], job_id: int) -> int:
    now = db_datetime(timezone.now())
    with connection.cursor() as cursor:
        # The new rows first: their paths must be free before the old rows take them.
        for start in range(0, len(pairs), IDS_PER_STATEMENT):
            chunk = pairs[start:start + IDS_PER_STATEMENT]
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                           [new_id for _, new_id, _ in chunk])
        cursor.executemany(
            f"UPDATE {table} SET path = %s, missing = %s, unseen_by_job_id = NULL, last_job_id = %s, last_seen = %s "
            "WHERE id = %s",
            [(new_path, False, job_id, now, old_id) for old_id, _, new_path in pairs],
        )
    return len(pairs)


def _by_name(group: list[tuple]) -> dict[str, tuple]:
    """The rows of a group whose file name no other row of the group has, by that name."""
    named: dict[str, list[tuple]] = {}
    for row in group:
        named.setdefault(row[1].rpartition("/")[2], []).append(row)
    return {name: rows[0] for name, rows in named.items() if len(rows) == 1}


def _ordered(table: str, condition: str, params: list) -> Iterator[tuple]:
    """(id, path, size, mtime_ns) of the library's rows meeting `condition`, by (size, mtime_ns, id)."""
    sql = (f"SELECT id, path, size, mtime_ns FROM {table} WHERE library_id = %s AND {condition} "
           "AND (size, mtime_ns, id) > (%s, %s, %s) ORDER BY size, mtime_ns, id LIMIT %s")
    key = (-1, -(2**63), 0)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *key, PAGE_ROWS])
            page = cursor.fetchall()
        yield from page
        if len(page) < PAGE_ROWS:
            return
        key = (page[-1][2], page[-1][3], page[-1][0])


def _groups(rows: Iterator[tuple]) -> Iterator[tuple[tuple[int, int], list[tuple]]]:
    """Consecutive rows of one (size, mtime_ns)."""
    key: tuple[int, int] = (-1, 0)  # no row's: sizes are never negative
    group: list[tuple] = []
    for row in rows:
        if (row[2], row[3]) != key:
            if group:
                yield key, group
            key, group = (row[2], row[3]), []
        group.append(row)
    if group:
        yield key, group


def _common_groups(left: Iterator[tuple], right: Iterator[tuple]) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """The groups of one (size, mtime_ns) that both sides have: a merge of two sorted streams."""
    lefts, rights = _groups(left), _groups(right)
    a, b = next(lefts, None), next(rights, None)
    while a is not None and b is not None:
        if a[0] == b[0]:
            yield a[1], b[1]
            a, b = next(lefts, None), next(rights, None)
        elif a[0] < b[0]:
            a = next(lefts, None)
        else:
            b = next(rights, None)
