"""The scan engine: turns a walk of a library into committed batches (DESIGN.md section 3).

One batch is a run of files in walk order plus the catalogue rows in the same path range
(`checkpoint < path <= last path`). Its MediaFile writes, the job's counters and the new
checkpoint commit in one transaction guarded by the lease, so committed progress is exactly
the files committed: a crash or a pause redoes at most one batch, never loses or double-counts
one. Rows of the range that the walk did not find are flagged `unseen_by_job_id`; the last
batch flips them to missing in the transaction that completes the job, so a scan that fails
or is cancelled marks nothing missing.

Tags are read in a process pool (scanner/extraction.py) while the thread plans the next batch:
up to LOOKAHEAD batches are in flight before the oldest is committed.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from libraries.models import MediaFile
from scanner import catalogue, jobstore
from scanner.catalogue import META_FIELDS, db_datetime
from scanner.conf import ScannerConfig
from scanner.events import log_decision, record_event
from scanner.extraction import PendingReads
from scanner.jobstore import Lease
from scanner.metadata import TAGGED_EXTENSIONS
from scanner.models import ScanEvent, ScanJob
from scanner.walk import FileEntry, RootUnavailable, Walker

logger = logging.getLogger(__name__)

LOOKAHEAD = 2  # batches planned (tags being read) ahead of the one being committed
FOUND_UPDATE_INTERVAL = 1.0  # seconds between discovery-count updates of the job row
MAX_FOLDER_EVENTS = 20  # unreadable-folder events kept per run; the counter counts them all
COUNTERS = ("files_processed", "files_unchanged", "files_added", "files_updated", "files_missing",
            "files_failed", "bytes_processed", "dirs_failed")
EMPTY_META = {"duration": None, "title": "", "artist": "", "album": "", "track": None, "year": None,
              "codec": "", "bitrate": None, "sample_rate": None}


class LeaseLost(Exception):
    """The job was paused, cancelled, deleted or claimed by another process."""


class Stopped(Exception):
    """This process asked the scan to stop (a pause or cancel here, or shutdown)."""


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
    to_read: list[tuple[FileEntry, object]] = field(default_factory=list)  # (entry, old row or None)
    reads: PendingReads | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.upper is None

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


class ScanEngine:
    """Runs one claimed job to completion, or until it is stopped or loses its lease."""

    def __init__(self, lease: Lease, *, config: ScannerConfig, stop: threading.Event, worker_label: str = ""):
        self.lease = lease
        self.config = config
        self.stop = stop
        self.worker_label = worker_label
        self._unreadable: list[tuple[str, str]] = []
        self._folder_events = 0
        self.processed = 0

    # ----------------------------------------------------------------- entry point
    def run(self) -> str:
        """'completed', 'failed', 'interrupted' or 'stopped' (paused, cancelled or taken over).

        Never leaves the job `running` behind it if the database lets it write: an error ends
        the job failed (with the error), a database error pauses it as interrupted for a retry.
        """
        try:
            self._load()
            walker = Walker(self.root, after=self.checkpoint, on_dir_error=self._on_dir_error)
            self._discover(walker)
            self._scan(walker)
            return "completed"
        except (LeaseLost, Stopped):
            return "stopped"
        except RootUnavailable as exc:
            return self._fail(f"{exc}. Nothing was marked missing.", error=str(exc))
        except DatabaseError as exc:
            logger.warning("database error during scan: %s", exc, extra={"action": "db_error", **self._ids()})
            return self._interrupt(exc)
        except Exception as exc:
            logger.exception("scan crashed", extra={"action": "crashed", **self._ids()})
            return self._fail(f"The scan stopped on an unexpected error: {exc}", error=f"{type(exc).__name__}: {exc}")

    def _load(self) -> None:
        job = ScanJob.objects.select_related("library").get(pk=self.lease.job_id)
        if job.library is None:
            raise RootUnavailable("The library was deleted")
        self.root = job.library.path
        self.full = job.mode == ScanJob.Mode.FULL
        self.totals = {name: getattr(job, name) for name in COUNTERS}
        self.processed, self.found = job.files_processed, job.files_found
        self.progress, self.checkpoint = job.progress, job.checkpoint
        self._event("resumed" if job.checkpoint else "started", self._start_message(job))

    def _start_message(self, job: ScanJob) -> str:
        if job.checkpoint:
            return f"Resuming {job.mode} scan of {self.root} after {job.files_processed:,} files"
        return f"Starting {job.mode} scan of {self.root}"

    # ----------------------------------------------------------------- discovery
    def _discover(self, walker: Walker) -> None:
        self._write(phase=ScanJob.Phase.DISCOVERING, status_message="Counting the media files")
        last_write = time.monotonic()

        def progress(count: int) -> None:
            nonlocal last_write
            if time.monotonic() - last_write >= FOUND_UPDATE_INTERVAL:
                self._write(files_found=max(count, self.processed))
                last_write = time.monotonic()

        count = walker.count(should_stop=self.stop.is_set, on_progress=progress)
        if count is None:
            raise Stopped
        self.found = max(count, self.processed)
        doing = f"Resuming after {self.processed:,} of" if self.checkpoint else "Scanning"
        self._write(files_found=self.found, phase=ScanJob.Phase.SCANNING, status_message=f"{doing} {self.found:,} files")

    # ----------------------------------------------------------------- scanning
    def _scan(self, walker: Walker) -> None:
        self.run_started = time.monotonic()
        self.run_processed = 0
        pending: deque[Batch] = deque()
        try:
            for batch in self._batches(walker):
                self._check_stop()
                self._plan(batch)
                pending.append(batch)
                if len(pending) > LOOKAHEAD:
                    self._commit(pending.popleft(), walker)
            while pending:
                self._commit(pending.popleft(), walker)
        finally:
            for batch in pending:
                if batch.reads:
                    batch.reads.cancel()

    def _batches(self, walker: Walker):
        lower, entries = self.checkpoint, []
        limit = self.config.max_files_per_second
        walked = 0
        for entry in walker:
            if self.stop.is_set():
                raise Stopped
            entries.append(entry)
            walked += 1
            if limit:
                self._throttle(walked, limit)
            # Cut only after a name that can be stored as the checkpoint.
            if len(entries) >= self.config.batch_size and not entry.bad_name:
                yield Batch(lower, entry.path, entries, self._take_unreadable())
                lower, entries = entry.path, []
        yield Batch(lower, None, entries, self._take_unreadable())

    def _throttle(self, walked: int, limit: float) -> None:
        ahead = walked / limit - (time.monotonic() - self.run_started)
        if ahead > 0 and self.stop.wait(ahead):
            raise Stopped

    def _on_dir_error(self, prefix: str, error: OSError) -> None:
        if isinstance(error, FileNotFoundError):
            log_decision(f"folder vanished during the scan: {prefix}", action="folder_vanished", **self._ids())
            return
        self._unreadable.append((prefix, f"{error.strerror or error}"))

    def _take_unreadable(self) -> list[tuple[str, str]]:
        taken, self._unreadable = self._unreadable, []
        return taken

    # ----------------------------------------------------------------- planning
    def _plan(self, batch: Batch) -> None:
        """Compare the batch with its catalogue range; start reading the tags it needs."""
        rows = MediaFile.objects.filter(library_id=self.lease.library_id, path__gt=batch.lower)
        if batch.upper is not None:
            rows = rows.filter(path__lte=batch.upper)
        if self.full:
            known = {row.path: row for row in rows}
        else:
            known = {r[1]: r for r in rows.values_list("id", "path", "size", "mtime_ns", "missing")}
        now = db_datetime(timezone.now())
        batch.count("files_processed", len(batch.entries))
        unchanged = size = 0
        for entry in batch.entries:
            if entry.error:
                self._file_failed(batch, entry.path, entry.error)
                continue
            size += entry.size
            row = known.pop(entry.path, None)
            if self.full:
                if entry.extension in TAGGED_EXTENSIONS:
                    batch.to_read.append((entry, row))
                elif row and (row.size, row.mtime_ns, row.missing) == (entry.size, entry.mtime_ns, False):
                    unchanged += 1
                else:
                    self._stage(batch, entry, row.pk if row else None, EMPTY_META, now)
            elif row is None or row[2] != entry.size or row[3] != entry.mtime_ns:
                if entry.extension in TAGGED_EXTENSIONS:
                    batch.to_read.append((entry, row))
                else:
                    self._stage(batch, entry, row[0] if row else None, EMPTY_META, now)
            elif row[4]:
                batch.restored_ids.append(row[0])  # back where it was: no longer missing
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
            already_missing = row.missing if self.full else row[4]
            if not already_missing:
                batch.unseen_ids.append(row.pk if self.full else row[0])
        if batch.to_read:
            paths = [os.path.join(self.root, entry.path) for entry, _ in batch.to_read]
            batch.reads = PendingReads(paths, self.config.metadata_workers)

    def _stage(self, batch: Batch, entry: FileEntry, pk: int | None, meta: dict, now) -> None:
        """Queue the row of a new or changed file (`now` as the database wants it)."""
        values = (entry.size, entry.mtime_ns, entry.kind, entry.extension, *(meta[f] for f in META_FIELDS), False)
        if pk is None:
            batch.inserts.append((self.lease.library_id, entry.path, *values, now, now, self.lease.job_id, None))
            batch.count("files_added")
        else:
            batch.updates.append((*values, now, self.lease.job_id, None, pk))
            batch.count("files_updated")

    def _apply_reads(self, batch: Batch) -> None:
        if not batch.reads:
            return
        now = db_datetime(timezone.now())
        for (entry, old), (meta, error) in zip(batch.to_read, batch.reads.results(), strict=True):
            if error:
                self._file_failed(batch, entry.path, f"tags unreadable: {error}")
            meta = {**EMPTY_META, **meta}
            if self.full and old is not None and not old.missing and _same(old, entry, meta):
                batch.count("files_unchanged")
                continue
            pk = (old.pk if self.full else old[0]) if old is not None else None
            self._stage(batch, entry, pk, meta, now)

    def _file_failed(self, batch: Batch, path: str, reason: str) -> None:
        batch.count("files_failed")
        log_decision(f"file failed: {path!r}: {reason}", action="file_failed", level=logging.WARNING, **self._ids())

    # ----------------------------------------------------------------- committing
    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def _commit(self, batch: Batch, walker: Walker) -> None:
        self._apply_reads(batch)
        self._check_stop()
        if batch.final:
            self._check_root_before_finishing(walker)
        counts = batch.counts
        processed = self.processed + counts.get("files_processed", 0)
        found = max(self.found, processed)
        elapsed = max(time.monotonic() - self.run_started, 1e-6)
        rate = (self.run_processed + counts.get("files_processed", 0)) / elapsed
        if batch.unreadable:
            batch.count("dirs_failed", len(batch.unreadable))
        fields = {name: F(name) + n for name, n in counts.items() if n}
        fields.update(heartbeat_at=Now(), updated_at=Now(), files_per_second=round(rate, 1))
        if batch.final:
            fields.update(self._completion_fields(processed, counts), files_per_second=fields["files_per_second"])
        else:
            fields.update(checkpoint=batch.upper, files_found=found, progress=self._progress(processed, found))
        with transaction.atomic():
            if batch.inserts or batch.updates:
                _commit_asynchronously()
            if not jobstore.held(self.lease).update(**fields):
                raise LeaseLost
            catalogue.insert_files(batch.inserts)
            catalogue.update_files(batch.updates)
            if batch.restored_ids:
                MediaFile.objects.filter(pk__in=batch.restored_ids).update(
                    missing=False, last_seen=timezone.now(), last_job_id=self.lease.job_id, unseen_by_job_id=None
                )
            if batch.unseen_ids:
                MediaFile.objects.filter(pk__in=batch.unseen_ids).update(unseen_by_job_id=self.lease.job_id)
            self._record_unreadable(batch)
            if batch.final:
                if self.totals["files_missing"] + counts.get("files_missing", 0):
                    MediaFile.objects.filter(
                        library_id=self.lease.library_id, unseen_by_job_id=self.lease.job_id
                    ).update(missing=True, unseen_by_job_id=None)
                self._event("completed", fields["status_message"])
        self.processed, self.found = processed, found
        self.run_processed += counts.get("files_processed", 0)
        for name, n in counts.items():
            self.totals[name] += n
        if not batch.final:
            self.checkpoint = batch.upper

    def _check_root_before_finishing(self, walker: Walker) -> None:
        walker.check_root()
        if walker.root_was_empty and not self.checkpoint and MediaFile.objects.filter(
            library_id=self.lease.library_id, missing=False
        ).exists():
            # An unmounted share often leaves its empty mount point behind.
            raise RootUnavailable(
                f"The library folder {self.root} is empty but files are catalogued; is the drive mounted?"
            )

    def _completion_fields(self, processed: int, counts: dict[str, int]) -> dict:
        total = {name: self.totals[name] + counts.get(name, 0) for name in COUNTERS}
        message = (
            f"Scanned {processed:,} files: {total['files_added']:,} added, {total['files_updated']:,} updated, "
            f"{total['files_unchanged']:,} unchanged, {total['files_missing']:,} missing, "
            f"{total['files_failed']:,} failed"
        )
        if total["dirs_failed"]:
            message += f"; {total['dirs_failed']:,} folders could not be read"
        return {
            "status": ScanJob.Status.COMPLETED,
            "phase": ScanJob.Phase.DONE,
            "progress": 100,
            "files_found": processed,
            "completed_at": Now(),
            "status_message": message,
            **jobstore.released_fields(),
        }

    def _progress(self, processed: int, found: int) -> float:
        percent = math.floor(1000 * processed / found) / 10 if found else 0.0
        self.progress = max(self.progress, min(99.9, percent))
        return self.progress

    def _record_unreadable(self, batch: Batch) -> None:
        for prefix, reason in batch.unreadable:
            message = f"Folder {prefix} could not be read ({reason}); its files were left as they were"
            if self._folder_events < MAX_FOLDER_EVENTS:
                self._folder_events += 1
                ScanEvent.objects.create(job_id=self.lease.job_id, kind="folder_unreadable", message=message,
                                         worker=self.worker_label)
            log_decision(message, action="folder_unreadable", level=logging.WARNING, **self._ids())

    # ----------------------------------------------------------------- helpers
    def _write(self, **fields) -> None:
        """A guarded update of the job row outside a batch (phase, discovery count)."""
        if not jobstore.held(self.lease).update(heartbeat_at=Now(), updated_at=Now(), **fields):
            raise LeaseLost

    def _fail(self, message: str, *, error: str) -> str:
        if jobstore.fail_held(self.lease, error=error, message=message):
            self._event("failed", message, level=logging.ERROR)
        return "failed"

    def _interrupt(self, error: DatabaseError) -> str:
        message = f"Interrupted by a database error after {self.processed:,} files; it can resume: {error}"
        try:
            if jobstore.pause_held(self.lease, reason=ScanJob.PauseReason.INTERRUPTED, message=message):
                self._event("interrupted", message, level=logging.WARNING)
        except DatabaseError:
            pass  # still unreachable: recovery will find the job orphaned and pause it
        return "interrupted"

    def _event(self, kind: str, message: str, level: int = logging.INFO) -> None:
        record_event(self.lease.job_id, kind, message, worker=self.worker_label, library_id=self.lease.library_id,
                     level=level)

    def _ids(self) -> dict:
        return {"job_id": self.lease.job_id, "library_id": self.lease.library_id, "worker": self.worker_label}


def _commit_asynchronously() -> None:
    """On PostgreSQL, do not wait for this batch's WAL flush. Safe: the batch's files, counters
    and checkpoint are one transaction, so a crash can only lose whole recent batches, and the
    job then resumes from the older checkpoint with the older counts: nothing is lost or
    counted twice. SQLite (WAL, synchronous=NORMAL) behaves the same way already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _same(row: MediaFile, entry: FileEntry, meta: dict) -> bool:
    return (row.size, row.mtime_ns) == (entry.size, entry.mtime_ns) and all(
        getattr(row, name) == meta[name] for name in META_FIELDS
    )
