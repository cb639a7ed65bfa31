"""Planning a batch: compare a run of the walk with the catalogue rows of the same path range.

Both come in the same order (walk order is plain string order, and the catalogue is read in
path order, page by page), so the comparison is a merge that holds one page of rows at a time,
however many rows the range has. Each file of the run is new, changed, unchanged (same size
and mtime_ns: not reopened), restored (its row was marked missing) or failed. Catalogue rows
the walk passed without finding are unseen, unless they lie in a folder that could not be
read; consecutive unseen rows are kept as one path range, so a vanished folder of 300,000
files costs one range, not 300,000 ids. What new and changed files say inside (tags, video
streams, photo facts: readers/dispatch.py; every file in full mode) is read in the process pool while
the engine commits earlier batches; `finish` waits for it and stages the rows. An empty file has
nothing to read: it is catalogued by its stats and counted failed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from scanner.core.batching import Run
from scanner.core.entries import VANISHED, FileEntry
from scanner.core.readers import SHARE_READ_THREADS, PendingReads, start_readers
from scanner.core.readers.dispatch import EMPTY_FILE, READ_EXTENSIONS
from scanner.core.scope import Scope
from scanner.engine import catalogue, dbtime, facts, moves
from scanner.engine.catalogue import StoredFile
from scanner.engine.facts import NO_FACTS
from scanner.jobs.events import log_decision


@dataclass
class Batch(Run):
    inserts: list[tuple] = field(default_factory=list)  # catalogue.insert_row's
    basic_inserts: list[tuple] = field(default_factory=list)  # catalogue.basic_insert_row's
    updates: list[tuple] = field(default_factory=list)  # catalogue.update_row's
    restored_ids: list[int] = field(default_factory=list)
    unseen_ranges: list[tuple[str, str]] = field(default_factory=list)  # (first, last) paths, inclusive
    unseen_rows: int = 0  # rows in unseen_ranges that are not marked missing yet
    to_read: list[tuple[FileEntry, StoredFile | None]] = field(default_factory=list)  # (entry, catalogued row)
    arrivals: list[FileEntry] = field(default_factory=list)  # new files that may be missing rows moved
    moved: list[tuple[int, FileEntry]] = field(default_factory=list)  # (missing row, the file it now is)
    reads: PendingReads | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        inserts = len(self.inserts) + len(self.basic_inserts)
        return inserts + len(self.updates) + len(self.restored_ids) + self.unseen_rows + len(self.moved)

    def followed_by(self, later: Batch) -> Batch:
        """This planned batch and the next one as one commit."""
        return Batch(
            lower=self.lower, upper=later.upper, entries=[], unreadable=self.unreadable + later.unreadable,
            inserts=self.inserts + later.inserts, basic_inserts=self.basic_inserts + later.basic_inserts,
            updates=self.updates + later.updates,
            restored_ids=self.restored_ids + later.restored_ids, moved=self.moved + later.moved,
            unseen_ranges=self.unseen_ranges + later.unseen_ranges, unseen_rows=self.unseen_rows + later.unseen_rows,
            counts={name: self.counts.get(name, 0) + later.counts.get(name, 0)
                    for name in self.counts.keys() | later.counts.keys()},
        )

    def take_moved(self, pairs: list[tuple[int, FileEntry]]) -> None:
        """New files of this batch that are missing rows moved (missing row id, file): written as
        those rows taking their paths, not inserted."""
        self.arrivals = []
        taken = {entry.path for _, entry in pairs}
        if taken:
            self.inserts = [row for row in self.inserts if catalogue.inserted_path(row) not in taken]
            self.basic_inserts = [row for row in self.basic_inserts if catalogue.inserted_path(row) not in taken]
            self.moved += pairs
            self.count("files_added", -len(pairs))
            self.count("files_moved", len(pairs))

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def cancel(self) -> None:
        if self.reads:
            self.reads.cancel()


class _UnseenRanges:
    """Collects runs of consecutive unseen rows; any row or file kept in between ends a run, and
    so does the end of a targeted scan's segment (what lies between two is not in its scope)."""

    def __init__(self, batch: Batch, scope: Scope):
        self.batch = batch
        self.scope = scope
        self.first = self.last = ""
        self.present = 0  # rows of the current run not yet marked missing

    def add(self, row: StoredFile) -> None:
        if not row.missing:  # found gone by this scan; one gone long ago is not counted again
            self.batch.count("files_missing")
        if self.first and self.scope and self.scope.segment_of(self.first) != self.scope.segment_of(row.path):
            self.end()
        self.first = self.first or row.path
        self.last = row.path
        self.present += not row.missing

    def end(self) -> None:
        if self.present:  # a run of rows all missing already needs no write
            self.batch.unseen_ranges.append((self.first, self.last))
            self.batch.unseen_rows += self.present
        self.first = self.last = ""
        self.present = 0


class Planner:
    def __init__(self, *, library_id: int, job_id: int, root: str, full: bool, metadata_workers: int,
                 read_timeout: float, log_ids: dict, scope: Scope | None = None,
                 slow_share: Callable[[], bool] = lambda: False, moves_window: float = 0):
        self.library_id = library_id
        self.scope = scope or Scope([])
        self.job_id = job_id
        self.root = root
        self.full = full
        self.metadata_workers = metadata_workers
        self.read_timeout = read_timeout
        self.slow_share = slow_share  # the walk's finding (scanner/core/walk.py): overlap the reads
        # Missing rows taken by new files (moves); a window of 0 when the library has none so recent.
        self.moves = moves.Arrivals(library_id, window_days=moves_window)
        self.log_ids = log_ids

    def expect_reads(self) -> None:
        """Files to read are coming (a first or full scan saw their names): start the readers."""
        start_readers(self.metadata_workers)

    def plan(self, run: Run) -> Batch:
        """Compare the run with its catalogue range; start reading the files it needs read."""
        batch = Batch(run.lower, run.upper, run.entries, run.unreadable)
        rows = catalogue.rows_in_range(self.library_id, run.lower, run.upper, with_meta=self.full, scope=self.scope)
        unseen = _UnseenRanges(batch, self.scope)
        unreadable = tuple(prefix for prefix, _ in run.unreadable)
        now = dbtime.db_datetime(dbtime.database_now())
        batch.count("files_processed", len(run.entries))
        unchanged = size = 0
        empty: list[str] = []
        row = next(rows, None)
        for entry in run.entries:  # a hot loop: thousands of files a batch
            while row is not None and row.path < entry.path:
                self._passed(row, unseen, unreadable)
                row = next(rows, None)
            if unseen.first:
                unseen.end()  # this file lies between the rows before and after it
            match = None
            if row is not None and row.path == entry.path:
                match, row = row, next(rows, None)
            if entry.error:
                self._failed(batch, entry.path, entry.error)
                if match is not None and entry.error == VANISHED:
                    unseen.add(match)  # listed, then gone before it could be read
                continue  # else there but unreadable: its row stays as it is
            size += entry.size
            same_stat = match is not None and match.size == entry.size and match.mtime_ns == entry.mtime_ns
            if entry.extension in READ_EXTENSIONS and (self.full or not same_stat):
                if entry.size:
                    batch.to_read.append((entry, match))
                    continue
                empty.append(entry.path)  # nothing to read: counted failed, catalogued by its stats
            if match is not None and match.id in self.moves.claimed:
                self._stage(batch, entry, None, NO_FACTS, now)  # its old row moved away in a batch ahead of this
            elif not same_stat:
                self._stage(batch, entry, match, NO_FACTS, now)
            elif match is not None and match.missing:  # (same_stat holds, so match is set: this is for mypy)
                self._restore(batch, match)  # back where it was: no longer missing
            else:
                unchanged += 1
        while row is not None:
            self._passed(row, unseen, unreadable)
            row = next(rows, None)
        unseen.end()
        if empty:  # one line a batch: a library of placeholders must not flood the log
            batch.count("files_failed", len(empty))
            log_decision(f"{len(empty)} files failed: {EMPTY_FILE} (first {empty[0]!r})", action="file_failed",
                         level=logging.WARNING, **self.log_ids)
        batch.count("files_unchanged", unchanged)
        batch.count("bytes_processed", size)
        if batch.to_read:
            paths = [os.path.join(self.root, entry.path) for entry, _ in batch.to_read]
            batch.reads = PendingReads(paths, self.metadata_workers, self.read_timeout,
                                       threads=SHARE_READ_THREADS if self.slow_share() else 1)
        return batch

    def finish(self, batch: Batch) -> None:
        """Wait for what the batch's files say inside, and stage its new and changed rows; new
        files that are missing rows moved become those rows."""
        if batch.reads:
            self._stage_read(batch)
        if batch.arrivals:
            batch.take_moved(self.moves.match(batch.arrivals))

    def _stage_read(self, batch: Batch) -> None:
        assert batch.reads is not None
        now = dbtime.db_datetime(dbtime.database_now())
        for (entry, row), (meta, error) in zip(batch.to_read, batch.reads.results(), strict=True):
            if row is not None and row.id in self.moves.claimed:
                row = None  # its old row moved away in a batch ahead of this
            same_stat = row is not None and (row.size, row.mtime_ns) == (entry.size, entry.mtime_ns)
            if error:
                self._failed(batch, entry.path, f"unreadable: {error}")
                if same_stat and row is not None:  # a full rescan that cannot read the tags keeps the old ones
                    if row.missing:
                        self._restore(batch, row)
                    else:
                        batch.count("files_unchanged")
                    continue
            meta = facts.complete_facts(meta)
            kept = row is not None and not row.missing and row.facts is not None and facts.holds_facts(row.facts, meta)
            if self.full and same_stat and kept:
                batch.count("files_unchanged")
                continue
            self._stage(batch, entry, row, facts.stored_facts(meta), now)

    def _restore(self, batch: Batch, row: StoredFile) -> None:
        self.moves.restored.add(row.id)
        batch.restored_ids.append(row.id)
        batch.count("files_updated")

    def _passed(self, row: StoredFile, unseen: _UnseenRanges, unreadable: tuple[str, ...]) -> None:
        """A catalogued row the walk went past without finding its file."""
        if unreadable and row.path.startswith(unreadable):
            unseen.end()  # in a folder we could not read: not known to be gone, kept as it is
        else:
            unseen.add(row)

    def _stage(self, batch: Batch, entry: FileEntry, row: StoredFile | None, facts: tuple, now) -> None:
        """Queue the row of a new or changed file (`facts`: facts.stored_facts; `now` as the database wants it)."""
        if row is None and self.moves.window_days:
            batch.arrivals.append(entry)
        if row is None and facts is NO_FACTS:
            batch.basic_inserts.append(catalogue.basic_insert_row(self.library_id, entry, now=now, job_id=self.job_id))
            batch.count("files_added")
        elif row is None:
            batch.inserts.append(catalogue.insert_row(self.library_id, entry, facts, now=now, job_id=self.job_id))
            batch.count("files_added")
        else:
            batch.updates.append(catalogue.update_row(row.id, entry, facts, now=now, job_id=self.job_id))
            batch.count("files_updated")

    def _failed(self, batch: Batch, path: str, reason: str) -> None:
        batch.count("files_failed")
        log_decision(f"file failed: {path!r}: {reason}", action="file_failed", level=logging.WARNING, **self.log_ids)

