"""Moved files keep their identity (DESIGN.md 8), decided in the transaction that completes a scan.

A catalogued file the scan did not find (flagged unseen by it) and a file the scan added, with
the same size and mtime_ns, and the same file name or the same inode and device, are one file
moved: the old row takes the new path and keeps its id, `first_seen` and tags; the new row goes.
A copy has a new mtime and inode; a move keeps its mtime and its name (mv across file systems,
rsync -a, Sonarr's and Lidarr's imports), a rename keeps its mtime and its inode. A pair is
made only when nothing else on either side shares its facts: two albums' "01.mp3" with one
size and mtime, both moved, cannot be told apart, and a wrong pair would swap their tags.

Both sides are read in (size, mtime_ns) order, a page at a time, and matched group by group,
so memory is bounded by a page and the largest group, not by how many files moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from libraries.models import MediaFile
from scanner.engine.catalogue import db_datetime

PAGE_ROWS = 5000
IDS_PER_STATEMENT = 1000


class Candidate(NamedTuple):
    """One side of a possible move, as _ordered reads it."""

    id: int
    path: str
    size: int
    mtime_ns: int
    inode: int | None
    device: int | None


def apply_moves(library_id: int, job_id: int) -> int:
    """Pair the job's unseen rows with the rows it added, move the old rows, drop the new ones;
    how many files moved. Call inside the transaction that completes the job."""
    table = connection.ops.quote_name(MediaFile._meta.db_table)
    gone = _ordered(table, "unseen_by_job_id = %s", [library_id, job_id])
    # Rows this job inserted: written by it once, as new (an update keeps the old first_seen).
    added = _ordered(table, "last_job_id = %s AND first_seen = last_seen AND NOT missing", [library_id, job_id])
    pairs: list[tuple[int, Candidate]] = []  # (old row's id, the new row)
    moved = 0
    for old_group, new_group in _common_groups(gone, added):
        # By name first, then by inode among the rest. A name two files share on one side
        # rules them out of both: copies made with their times (cp -p) get new inodes, and one
        # may reuse the inode of a file deleted next to it.
        olds, news = _unique(old_group, _name), _unique(new_group, _name)
        shared = ({_name(row) for row in old_group} - set(olds)) | ({_name(row) for row in new_group} - set(news))
        by_name = [(old.id, new) for name, old in olds.items() if (new := news.get(name)) is not None]
        pairs += by_name
        paired = {old_id for old_id, _ in by_name} | {new.id for _, new in by_name}
        rest = [row for row in old_group if row.id not in paired and _name(row) not in shared]
        arrived = [row for row in new_group if row.id not in paired and _name(row) not in shared]
        by_inode = _unique(arrived, _inode)
        for fact, old in _unique(rest, _inode).items():
            if (new := by_inode.get(fact)) is not None:
                pairs.append((old.id, new))
        if len(pairs) >= IDS_PER_STATEMENT:
            moved += _move(table, pairs, job_id)
            pairs = []
    return moved + _move(table, pairs, job_id)


def _move(table: str, pairs: list[tuple[int, Candidate]], job_id: int) -> int:
    now = db_datetime(timezone.now())
    with connection.cursor() as cursor:
        # The new rows first: their paths must be free before the old rows take them.
        for start in range(0, len(pairs), IDS_PER_STATEMENT):
            chunk = pairs[start:start + IDS_PER_STATEMENT]
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                           [new.id for _, new in chunk])
        cursor.executemany(
            f"UPDATE {table} SET path = %s, inode = %s, device = %s, missing = %s, unseen_by_job_id = NULL, "
            "last_job_id = %s, last_seen = %s WHERE id = %s",
            [(new.path, new.inode, new.device, False, job_id, now, old_id) for old_id, new in pairs],
        )
    return len(pairs)


def _name(row: Candidate) -> str:
    return row.path.rpartition("/")[2]


def _inode(row: Candidate) -> tuple[int, int] | None:
    return (row.inode, row.device) if row.inode is not None and row.device is not None else None


def _unique(rows: list[Candidate], key) -> dict:
    """The rows whose fact (`key`, None: unknown) no other of them has, by that fact."""
    found: dict = {}
    for row in rows:
        if (fact := key(row)) is not None:
            found.setdefault(fact, []).append(row)
    return {fact: group[0] for fact, group in found.items() if len(group) == 1}


def _ordered(table: str, condition: str, params: list) -> Iterator[Candidate]:
    """The library's rows meeting `condition`, by (size, mtime_ns, id)."""
    sql = (f"SELECT id, path, size, mtime_ns, inode, device FROM {table} WHERE library_id = %s AND {condition} "
           "AND (size, mtime_ns, id) > (%s, %s, %s) ORDER BY size, mtime_ns, id LIMIT %s")
    key = (-1, -(2**63), 0)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *key, PAGE_ROWS])
            page = cursor.fetchall()
        rows = list(map(Candidate._make, page))
        yield from rows
        if len(rows) < PAGE_ROWS:
            return
        key = (rows[-1].size, rows[-1].mtime_ns, rows[-1].id)


def _groups(rows: Iterator[Candidate]) -> Iterator[tuple[tuple[int, int], list[Candidate]]]:
    """Consecutive rows of one (size, mtime_ns)."""
    key: tuple[int, int] = (-1, 0)  # no row's: sizes are never negative
    group: list[Candidate] = []
    for row in rows:
        if (row.size, row.mtime_ns) != key:
            if group:
                yield key, group
            key, group = (row.size, row.mtime_ns), []
        group.append(row)
    if group:
        yield key, group


def _common_groups(left: Iterator[Candidate],
                   right: Iterator[Candidate]) -> Iterator[tuple[list[Candidate], list[Candidate]]]:
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
