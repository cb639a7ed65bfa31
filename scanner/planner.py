"""Planning a batch: compare a run of the walk with the catalogue rows of the same path range.

Each file of the batch is new, changed, unchanged (same size and mtime_ns: not reopened),
restored (its row was marked missing) or failed; each catalogued row of the range that the
walk did not yield is unseen, unless it lies in a folder that could not be read. Tags of new
and changed audio/MP4 files (all of them in full mode) are read in the process pool while the
engine commits earlier batches; `finish` waits for them and stages the rows.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from django.utils import timezone

from scanner.catalogue import ID, META_FIELDS, MISSING, MTIME_NS, SIZE, db_datetime, rows_in_range
from scanner.events import log_decision
from scanner.extraction import PendingReads
from scanner.metadata import TAGGED_EXTENSIONS
from scanner.walk import VANISHED, FileEntry

EMPTY_META = {"duration": None, "title": "", "artist": "", "album": "", "track": None, "year": None,
              "codec": "", "bitrate": None, "sample_rate": None}
META_START = 5  # where META_FIELDS begin in a full-mode row (after catalogue.KEY_FIELDS)


@dataclass
class Batch:
    lower: str  # the checkpoint before this batch (exclusive)
    upper: str | None  # the last path of this batch (inclusive); None: the rest (the final batch)
    entries: list[FileEntry]
    unreadable: list[tuple[str, str]]  # (folder prefix, reason) of folders that could not be read
    inserts: list[tuple] = field(default_factory=list)  # rows in catalogue.INSERT_FIELDS order
    updates: list[tuple] = field(default_factory=list)  # rows in catalogue.UPDATE_FIELDS order, then id
    restored_ids: list[int] = field(default_factory=list)
    unseen_ids: list[int] = field(default_factory=list)
    to_read: list[tuple[FileEntry, tuple | None]] = field(default_factory=list)  # (entry, catalogued row)
    reads: PendingReads | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.upper is None

    @property
    def writes(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.restored_ids) + len(self.unseen_ids)

    def followed_by(self, later: Batch) -> Batch:
        """This planned batch and the next one as one commit."""
        return Batch(
            lower=self.lower, upper=later.upper, entries=[], unreadable=self.unreadable + later.unreadable,
            inserts=self.inserts + later.inserts, updates=self.updates + later.updates,
            restored_ids=self.restored_ids + later.restored_ids, unseen_ids=self.unseen_ids + later.unseen_ids,
            counts={name: self.counts.get(name, 0) + later.counts.get(name, 0)
                    for name in self.counts.keys() | later.counts.keys()},
        )

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def cancel(self) -> None:
        if self.reads:
            self.reads.cancel()


class Planner:
    def __init__(self, *, library_id: int, job_id: int, root: str, full: bool, metadata_workers: int,
                 log_ids: dict):
        self.library_id = library_id
        self.job_id = job_id
        self.root = root
        self.full = full
        self.metadata_workers = metadata_workers
        self.log_ids = log_ids

    def plan(self, batch: Batch) -> None:
        """Compare the batch with its catalogue range; start reading the tags it needs."""
        known = {row[1]: row for row in rows_in_range(self.library_id, batch.lower, batch.upper, with_meta=self.full)}
        now = db_datetime(timezone.now())
        batch.count("files_processed", len(batch.entries))
        unchanged = size = 0
        for entry in batch.entries:  # a hot loop: ~1000 files a batch
            if entry.error:
                self._failed(batch, entry.path, entry.error)
                if entry.error != VANISHED:
                    known.pop(entry.path, None)  # there but unreadable: leave its row as it is
                continue
            size += entry.size
            row = known.pop(entry.path, None)
            same_stat = row is not None and row[SIZE] == entry.size and row[MTIME_NS] == entry.mtime_ns
            if entry.extension in TAGGED_EXTENSIONS and (self.full or not same_stat):
                batch.to_read.append((entry, row))
            elif not same_stat:
                self._stage(batch, entry, row, EMPTY_META, now)
            elif row[MISSING]:
                batch.restored_ids.append(row[ID])  # back where it was: no longer missing
                batch.count("files_updated")
            else:
                unchanged += 1
        batch.count("files_unchanged", unchanged)
        batch.count("bytes_processed", size)
        unreadable = tuple(prefix for prefix, _ in batch.unreadable)
        for path, row in known.items():
            if unreadable and path.startswith(unreadable):
                continue  # in a folder we could not read: not known to be gone
            batch.count("files_missing")
            if not row[MISSING]:
                batch.unseen_ids.append(row[ID])
        if batch.to_read:
            paths = [os.path.join(self.root, entry.path) for entry, _ in batch.to_read]
            batch.reads = PendingReads(paths, self.metadata_workers)

    def finish(self, batch: Batch) -> None:
        """Wait for the batch's tags and stage its new and changed rows."""
        if not batch.reads:
            return
        now = db_datetime(timezone.now())
        for (entry, row), (meta, error) in zip(batch.to_read, batch.reads.results(), strict=True):
            if error:
                self._failed(batch, entry.path, f"tags unreadable: {error}")
                if row is not None and (row[SIZE], row[MTIME_NS]) == (entry.size, entry.mtime_ns) and not row[MISSING]:
                    batch.count("files_unchanged")  # a full rescan that cannot read the tags keeps the old ones
                    continue
            meta = {**EMPTY_META, **meta}
            if self.full and row is not None and not row[MISSING] and _unchanged(row, entry, meta):
                batch.count("files_unchanged")
                continue
            self._stage(batch, entry, row, meta, now)

    def _stage(self, batch: Batch, entry: FileEntry, row: tuple | None, meta: dict, now) -> None:
        """Queue the row of a new or changed file (`now` as the database wants it)."""
        values = (entry.size, entry.mtime_ns, entry.kind, entry.extension, *(meta[f] for f in META_FIELDS), False)
        if row is None:
            batch.inserts.append((self.library_id, entry.path, *values, now, now, self.job_id, None))
            batch.count("files_added")
        else:
            batch.updates.append((*values, now, self.job_id, None, row[ID]))
            batch.count("files_updated")

    def _failed(self, batch: Batch, path: str, reason: str) -> None:
        batch.count("files_failed")
        log_decision(f"file failed: {path!r}: {reason}", action="file_failed", level=logging.WARNING, **self.log_ids)


def _unchanged(row: tuple, entry: FileEntry, meta: dict) -> bool:
    return (row[SIZE], row[MTIME_NS]) == (entry.size, entry.mtime_ns) and row[META_START:] == tuple(
        meta[name] for name in META_FIELDS
    )
