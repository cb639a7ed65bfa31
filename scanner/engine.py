"""The scan engine: turns a walk of a library into committed batches (DESIGN.md section 3).

One batch is a run of files in walk order plus the catalogue rows in the same path range
(`checkpoint < path <= last path`). Its MediaFile writes, the job's counters and the new
checkpoint commit in one transaction guarded by the lease, so committed progress is exactly
the files committed: nothing is lost or counted twice, and a crash or a pause redoes only the
work in flight (the batch being walked; up to LOOKAHEAD more while their tags are read; at
most COMMIT_INTERVAL of batches that had nothing to write). Rows of the range that the walk did not find are flagged `unseen_by_job_id`; the last
batch flips them to missing in the transaction that completes the job, so a scan that fails
or is cancelled marks nothing missing.

Tags are read in a process pool (scanner/extraction.py) while the thread plans the next batch:
up to LOOKAHEAD batches are in flight before the oldest is committed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from libraries.models import MediaFile
from libraries.paths import is_within
from scanner import catalogue, jobstore
from scanner.conf import ScannerConfig
from scanner.events import log_decision, record_event
from scanner.jobstore import Lease
from scanner.models import ScanEvent, ScanJob
from scanner.planner import Batch, Planner
from scanner.walk import RootUnavailable, Walker

logger = logging.getLogger(__name__)

LOOKAHEAD = 2  # batches planned (tags being read) ahead of the one being committed
FOUND_UPDATE_INTERVAL = 1.0  # seconds between discovery-count updates of the job row
COMMIT_INTERVAL = 0.5  # seconds: batches with little to write are committed together at most this often
MAX_BATCH_SECONDS = 2.0  # a batch is cut after this long even if it has fewer files
DB_RETRY_DELAYS = (0.5, 1, 2, 4, 8)  # seconds of backoff before each retry on a lost connection
MAX_FOLDER_EVENTS = 20  # unreadable-folder events kept per run; the counter counts them all
COUNTERS = ("files_processed", "files_unchanged", "files_added", "files_updated", "files_missing",
            "files_failed", "bytes_processed", "dirs_failed")


class LeaseLost(Exception):
    """The job was paused, cancelled, deleted or claimed by another process."""


class Stopped(Exception):
    """This process asked the scan to stop (a pause or cancel here, or shutdown)."""


class LostDurability(Exception):
    """After a reconnect, the job row no longer shows our last commit (the database crashed
    before flushing it): go on from the database's state, not from ours."""


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
        self._carried: Batch | None = None  # planned batches waiting to commit with the next one
        self._last_commit = time.monotonic()

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
        except (OperationalError, InterfaceError, LostDurability) as exc:
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
        roots = settings.MEDIA_ROOTS
        if roots and not any(is_within(self.root, root) for root in roots):
            raise RootUnavailable(f"The library folder {self.root} is outside MEDIA_ROOTS ({', '.join(roots)})")
        self.totals = {name: getattr(job, name) for name in COUNTERS}
        self.processed, self.found = job.files_processed, job.files_found
        self.progress, self.checkpoint = job.progress, job.checkpoint
        self.planner = Planner(library_id=self.lease.library_id, job_id=self.lease.job_id, root=self.root,
                               full=job.mode == ScanJob.Mode.FULL, metadata_workers=self.config.metadata_workers,
                               log_ids=self._ids())
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
                self._retrying(lambda: self.planner.plan(batch))
                pending.append(batch)
                # Hold batches back only while their tags are being read: stat-only batches
                # commit at once, so a crash redoes at most the one batch being walked.
                while pending and (len(pending) > LOOKAHEAD or not pending[-1].reads):
                    self._commit(pending.popleft(), walker)
            while pending:
                self._commit(pending.popleft(), walker)
        finally:
            for batch in pending:
                batch.cancel()

    def _batches(self, walker: Walker):
        """Runs of the walk: SCANNER_BATCH_SIZE files, or fewer when walking them takes longer
        than MAX_BATCH_SECONDS (a slow share, a rate limit), so progress stays fresh."""
        lower, entries = self.checkpoint, []
        limit = self.config.max_files_per_second
        walked = 0
        started = time.monotonic()
        for entry in walker:
            self._check_stop()
            entries.append(entry)
            walked += 1
            if limit:
                self._throttle(walked, limit)
            full = len(entries) >= self.config.batch_size or (
                len(entries) % 64 == 0 and time.monotonic() - started >= MAX_BATCH_SECONDS
            )
            if full and not entry.bad_name:  # cut only after a name that can be the checkpoint
                yield Batch(lower, entry.path, entries, self._take_unreadable())
                lower, entries, started = entry.path, [], time.monotonic()
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

    # ----------------------------------------------------------------- committing
    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def _commit(self, batch: Batch, walker: Walker) -> None:
        self.planner.finish(batch)
        self._check_stop()
        if batch.unreadable:
            batch.count("dirs_failed", len(batch.unreadable))
        if self._carried is not None:
            batch = self._carried.followed_by(batch)
        if (not batch.final and batch.writes < self.config.batch_size
                and time.monotonic() - self._last_commit < COMMIT_INTERVAL):
            # Little to write (a rescan): carry it into the next commit rather than pay a
            # transaction for each checkpoint. A crash redoes it; nothing was counted yet.
            self._carried = batch
            return
        self._carried = None
        counts = batch.counts
        if batch.final:
            self._retrying(lambda: self._check_root_before_finishing(walker))
        processed = self.processed + counts.get("files_processed", 0)
        found = max(self.found, processed)
        elapsed = max(time.monotonic() - self.run_started, 1e-6)
        rate = (self.run_processed + counts.get("files_processed", 0)) / elapsed
        fields = {name: F(name) + n for name, n in counts.items() if n}
        fields.update(heartbeat_at=Now(), updated_at=Now(), files_per_second=round(rate, 1))
        if batch.final:
            fields.update(self._completion_fields(processed, counts), files_per_second=fields["files_per_second"])
        else:
            fields.update(checkpoint=batch.upper, files_found=found, progress=self._progress(processed, found))
        self._retrying(lambda: self._write_batch(batch, fields, counts), committed=lambda: self._committed(batch))
        self._last_commit = time.monotonic()
        self.processed, self.found = processed, found
        self.run_processed += counts.get("files_processed", 0)
        for name, n in counts.items():
            self.totals[name] += n
        if not batch.final:
            self.checkpoint = batch.upper

    def _write_batch(self, batch: Batch, fields: dict, counts: dict[str, int]) -> None:
        """The batch's one transaction: job row (guarded by the lease) and catalogue rows."""
        with transaction.atomic():
            if batch.inserts or batch.updates:
                _commit_asynchronously()
            if not jobstore.held(self.lease).update(**fields):
                raise LeaseLost
            catalogue.insert_files(batch.inserts)
            catalogue.update_files(batch.updates)
            if batch.restored_ids:
                MediaFile.objects.filter(pk__in=batch.restored_ids).update(
                    missing=False, last_seen=Now(), last_job_id=self.lease.job_id, unseen_by_job_id=None
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

    def _committed(self, batch: Batch) -> bool:
        """Whether a batch whose commit lost its acknowledgement (connection dropped) landed."""
        mine = ScanJob.objects.filter(pk=self.lease.job_id, lease_token=self.lease.lease_token)
        if batch.final:
            return mine.filter(status=ScanJob.Status.COMPLETED).exists()
        return mine.filter(checkpoint=batch.upper).exists()

    def _check_durable(self) -> None:
        """After a reconnect: the job row must still show our last commit. Batches commit
        asynchronously on PostgreSQL, so a database crash may have lost the latest ones; the
        job then resumes from what the database kept (see _commit_asynchronously)."""
        row = ScanJob.objects.filter(pk=self.lease.job_id).values("checkpoint", "files_processed").first()
        if row is not None and (row["checkpoint"], row["files_processed"]) != (self.checkpoint, self.processed):
            raise LostDurability(f"the database lost the scan's last commits (it now says {row['files_processed']:,} "
                                 f"files, not {self.processed:,})")

    def _retrying(self, step, *, committed=None):
        """Run a database step; when the connection is lost (a restarted server, a killed
        backend), reconnect and retry with backoff. `committed` says whether a commit whose
        answer was lost did happen, so a retry never writes a batch twice."""
        for attempt, delay in enumerate((*DB_RETRY_DELAYS, None)):
            try:
                if attempt:
                    if committed is not None and committed():
                        return None
                    self._check_durable()
                return step()
            except (OperationalError, InterfaceError) as exc:
                if delay is None:
                    raise
                logger.warning("database unreachable (%s); retrying in %ss", exc, delay,
                               extra={"action": "db_retry", **self._ids()})
                connection.close()
                if self.stop.wait(delay):
                    raise Stopped from None
        return None

    def _check_root_before_finishing(self, walker: Walker) -> None:
        walker.check_root()
        if walker.root_was_empty and MediaFile.objects.filter(
            library_id=self.lease.library_id, missing=False, path__gt=self.checkpoint
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
        return {"progress": 100, "files_found": processed, "status_message": message,
                **jobstore.finished_fields(ScanJob.Status.COMPLETED)}

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
        if not self._retrying(lambda: jobstore.held(self.lease).update(heartbeat_at=Now(), updated_at=Now(), **fields)):
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
    and checkpoint are one transaction, so a database crash can only lose whole recent batches;
    the job then resumes from the older checkpoint with the older counts (a scan that lives
    through the crash notices it on reconnecting: _check_durable). SQLite (WAL,
    synchronous=NORMAL) behaves the same way already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
