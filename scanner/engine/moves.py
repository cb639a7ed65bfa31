"""Moved files keep their identity, whichever scans see the two halves (DESIGN.md 8).

A file gone from one path and a file that appeared at another path of the same library, with
the same size and mtime_ns, and the same file name or the same inode and device, are one file
moved: the older row (the one that went) takes the new path and keeps its id, `first_seen` and
tags; the newer row goes, or is never written. A copy has a new mtime and inode; a move keeps
its mtime and its name (mv across file systems, rsync -a, Sonarr's and Lidarr's imports), a
rename keeps its mtime and its inode. A pair is made only when nothing else on either side
shares its facts: two albums' "01.mp3" with one size and mtime cannot be told apart, and a
wrong pair would swap their tags.

The halves may reach the catalogue in different scans (two notifications sent apart, a paused
scan, a targeted scan of one side), so each is matched when it is written:
- a file that appears is matched with rows that went missing less than SCANNER_MOVE_WINDOW_DAYS
  ago (`missing_matches`, by the planner; written in the batch that would have inserted it);
- a row that goes missing is matched with rows that appeared after it was last written
  (`complete_moves`, in the transaction that completes the scan and marks it missing).
Both look rows up by (library, size, mtime_ns), an index: a page of gone rows at a time, so
memory is bounded by a page and the largest group, not by how many files moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models.functions import Now

from libraries.models import MediaFile
from scanner.core.entries import FileEntry
from scanner.engine import dbtime

PAGE_ROWS = 400  # gone rows per page, each one lookup of the other side (two variables a row: SQLite caps them)
IDS_PER_STATEMENT = 1000
COLUMNS = "id, path, size, mtime_ns, inode, device, first_seen, last_seen"
LATER = datetime.max.replace(tzinfo=UTC)  # when a file that appears now was first seen, against any row


class Candidate(NamedTuple):
    """A catalogued row on one side of a possible move."""

    id: int
    path: str
    size: int
    mtime_ns: int
    inode: int | None
    device: int | None
    first_seen: datetime
    last_seen: datetime


class Moved(NamedTuple):
    old_id: int
    new_id: int
    path: str
    inode: int | None
    device: int | None
    added_here: bool  # the new row was inserted by the completing job


# ----------------------------------------------------------------- a file that appears
def recently_missing(library_id: int, *, window_days: float) -> bool:
    """Whether the library has rows that went missing within the window (a file appearing may
    be one of them). Only a completing scan of the library marks rows missing, so this holds
    for the whole of a scan that asks it at its start."""
    since = Now() - timedelta(days=window_days)
    return MediaFile.objects.filter(library_id=library_id, missing=True, missing_since__gte=since).exists()


class Arrivals:
    """A run of a scan's use of missing rows: taken by files that appeared (moves), or found back
    in place. A row is used once, whichever of two batches in flight gets to it first."""

    def __init__(self, library_id: int, *, window_days: float):
        self.library_id = library_id
        self.window_days = window_days  # 0: the library had no row missing so recently; nothing to match
        self.claimed: set[int] = set()  # rows taken by files that appeared (written or not yet)
        self.restored: set[int] = set()  # rows found back in their place

    def match(self, arrivals: list[FileEntry]) -> list[tuple[int, FileEntry]]:
        """(missing row id, the new file it is) for the files that are missing rows moved."""
        if not self.window_days or not arrivals:
            return []
        pairs = missing_matches(self.library_id, arrivals, window_days=self.window_days,
                                skip=self.claimed | self.restored)
        self.claimed.update(old.id for old, _ in pairs)
        return [(old.id, entry) for old, entry in pairs]


def missing_matches(library_id: int, arrivals: list[FileEntry], *, window_days: float,
                    skip: set[int]) -> list[tuple[Candidate, FileEntry]]:
    """Rows missing for less than the window that these new files are (ids in `skip` are
    spoken for already)."""
    groups: dict[tuple[int, int], list[FileEntry]] = {}
    for entry in arrivals:
        groups.setdefault((entry.size, entry.mtime_ns), []).append(entry)
    since = dbtime.db_datetime(dbtime.database_now() - timedelta(days=window_days))
    pairs = []
    keys = list(groups)
    for start in range(0, len(keys), PAGE_ROWS):
        found: dict[tuple[int, int], list[Candidate]] = {}
        for row in _rows_of(library_id, keys[start:start + PAGE_ROWS], "missing AND missing_since >= %s", [since]):
            if row.id not in skip:
                found.setdefault((row.size, row.mtime_ns), []).append(row)
        for key, olds in found.items():
            news = [_arrival(entry) for entry in groups[key]]
            by_path = {entry.path: entry for entry in groups[key]}
            pairs += [(old, by_path[new.path]) for old, new in _pair(olds, news)]
    return pairs


def take_over(row_id: int, entry: FileEntry, *, now, job_id: int) -> bool:
    """A row missing until now takes the path of a file that appeared (a move): it keeps its
    id, first_seen and tags. False if the row is no longer missing (a scan restored it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_table()} SET path = %s, inode = %s, device = %s, missing = %s, missing_since = NULL, "
                       "unseen_by_job_id = NULL, last_job_id = %s, last_seen = %s WHERE id = %s AND missing",
                       [entry.path, entry.inode, entry.device, False, job_id, now, row_id])
        return cursor.rowcount == 1


def _arrival(entry: FileEntry) -> Candidate:
    """A file not catalogued yet, as a candidate: it appears now, after everything was last seen."""
    return Candidate(0, entry.path, entry.size, entry.mtime_ns, entry.inode, entry.device, LATER, LATER)


# ----------------------------------------------------------------- a row that goes missing
def complete_moves(library_id: int, job_id: int) -> list[Moved]:
    """Pair the rows the job found gone with rows that appeared after they were last written;
    move the old rows to the new paths and drop the new rows. Call inside the transaction that
    completes the job, before it marks the rest missing.

    The gone rows' (size, mtime_ns) come a page at a time; for each page, one lookup of the rows
    present with those facts, and only for the facts that have some, one of the gone rows: a
    vanished folder of 300,000 files costs a pass over its keys, not a lookup per file, and
    memory holds a page, not the gap."""
    present = "NOT missing AND (unseen_by_job_id IS NULL OR unseen_by_job_id <> %s)"
    moved: list[Moved] = []
    for keys in _gone_keys(library_id, job_id):
        appeared: dict[tuple[int, int], list[Candidate]] = {}
        for row in _rows_of(library_id, keys, present, [job_id]):
            appeared.setdefault((row.size, row.mtime_ns), []).append(row)
        if not appeared:
            continue
        gone: dict[tuple[int, int], list[Candidate]] = {}
        for row in _rows_of(library_id, sorted(appeared), "unseen_by_job_id = %s", [job_id]):
            gone.setdefault((row.size, row.mtime_ns), []).append(row)
        pairs = [pair for key, olds in gone.items() for pair in _pair(olds, appeared[key])]
        for start in range(0, len(pairs), PAGE_ROWS):
            moved += _move(_table(), pairs[start:start + PAGE_ROWS], job_id)
    return moved


def _gone_keys(library_id: int, job_id: int) -> Iterator[list[tuple[int, int]]]:
    """The distinct (size, mtime_ns) of the rows the job found gone, a page at a time, in order."""
    sql = (f"SELECT DISTINCT size, mtime_ns FROM {_table()} WHERE library_id = %s AND unseen_by_job_id = %s "
           "AND (size, mtime_ns) > (%s, %s) ORDER BY size, mtime_ns LIMIT %s")
    after = (-1, -(2**63))
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, [library_id, job_id, *after, PAGE_ROWS])
            keys = [(size, mtime_ns) for size, mtime_ns in cursor.fetchall()]
        if keys:
            yield keys
        if len(keys) < PAGE_ROWS:
            return
        after = keys[-1]


def _move(table: str, pairs: list[tuple[Candidate, Candidate]], job_id: int) -> list[Moved]:
    if not pairs:
        return []
    now = dbtime.db_datetime(dbtime.database_now())
    with connection.cursor() as cursor:
        # Which new rows this job inserted (written by it once, as new: an update keeps first_seen).
        ids = [new.id for _, new in pairs]
        cursor.execute(f"SELECT id FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))}) "
                       "AND last_job_id = %s AND first_seen = last_seen", [*ids, job_id])
        ours = {row[0] for row in cursor.fetchall()}
        # The new rows first: their paths must be free before the old rows take them.
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})", ids)
        cursor.executemany(
            f"UPDATE {table} SET path = %s, inode = %s, device = %s, missing = %s, missing_since = NULL, "
            "unseen_by_job_id = NULL, last_job_id = %s, last_seen = %s WHERE id = %s",
            [(new.path, new.inode, new.device, False, job_id, now, old.id) for old, new in pairs],
        )
    return [Moved(old.id, new.id, new.path, new.inode, new.device, new.id in ours) for old, new in pairs]


# ----------------------------------------------------------------- the rule
def _pair(olds: list[Candidate], news: list[Candidate]) -> list[tuple[Candidate, Candidate]]:
    """Within one (size, mtime_ns) group: by name first, then by inode among the rest. A name
    two files share on one side rules them out of both: copies made with their times (cp -p)
    get new inodes, and one may reuse the inode of a file deleted next to it. A new row pairs
    only if it appeared after the old one was last written (else both existed at once)."""
    olds_by_name, news_by_name = _unique(olds, _name), _unique(news, _name)
    shared = ({_name(row) for row in olds} - set(olds_by_name)) | ({_name(row) for row in news} - set(news_by_name))
    pairs = [(old, new) for name, old in olds_by_name.items() if (new := news_by_name.get(name)) is not None]
    paired = {id(row) for pair in pairs for row in pair}
    rest = [row for row in olds if id(row) not in paired and _name(row) not in shared]
    arrived = _unique([row for row in news if id(row) not in paired and _name(row) not in shared], _inode)
    pairs += [(old, new) for fact, old in _unique(rest, _inode).items() if (new := arrived.get(fact)) is not None]
    return [(old, new) for old, new in pairs if new.first_seen > old.last_seen]


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


# ----------------------------------------------------------------- reading
def _table() -> str:
    return connection.ops.quote_name(MediaFile._meta.db_table)


def _rows_of(library_id: int, keys: Iterable[tuple[int, int]], condition: str, params: list) -> Iterator[Candidate]:
    """The library's rows meeting `condition` with one of these (size, mtime_ns)."""
    keys = list(keys)
    for start in range(0, len(keys), PAGE_ROWS):
        chunk = keys[start:start + PAGE_ROWS]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {COLUMNS} FROM {_table()} WHERE library_id = %s AND {condition} AND (size, mtime_ns) IN "
                f"({', '.join(['(%s, %s)'] * len(chunk))})", [library_id, *params, *(v for key in chunk for v in key)])
            yield from (_candidate(row) for row in cursor.fetchall())


def _candidate(row: tuple) -> Candidate:
    first_seen, last_seen = (dbtime.aware(value) for value in row[6:8])
    return Candidate(row[0], row[1], row[2], row[3], row[4], row[5], first_seen, last_seen)
