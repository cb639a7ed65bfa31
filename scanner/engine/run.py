"""The scan engine: runs one claimed job, from its checkpoint to completion (DESIGN.md section 3).

The walk (walk.py) is cut into runs (batching.py), each compared with the catalogue rows of
its path range (plan.py) and committed in one lease-guarded transaction (commit.py), while
`Progress` keeps what the job row says. Tags are read in a process pool while the thread plans
the next run: up to LOOKAHEAD batches are in flight before the oldest is committed, so a crash
or a pause redoes only the work in flight (and at most COMMIT_INTERVAL of batches that had
nothing to write).

Whatever happens, the job is not left `running` behind the thread if the database lets it
write: an error fails the job with the error; an outage pauses it to resume once the database
is back; a stop (pause, cancel or shutdown here, or a lost lease) leaves it to whoever stopped it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from functools import partial

from django.conf import settings

from common.dberrors import is_outage
from libraries.paths import is_within
from scanner.conf import ScannerConfig
from scanner.core import words
from scanner.core.batching import Batcher, Stopped
from scanner.core.progress import COUNTERS, Progress
from scanner.core.readers import READ_EXTENSIONS
from scanner.core.root import RootUnavailable
from scanner.core.scope import Scope, describe_scope
from scanner.core.walk import Walker
from scanner.engine import catalogue, moves
from scanner.engine.commit import Committer, LeaseLost, LostDurability, check_durable
from scanner.engine.discover import discover
from scanner.engine.plan import Batch, Planner
from scanner.engine.retry import Retry
from scanner.jobs import lifecycle, selectors
from scanner.jobs.events import record_event
from scanner.jobs.interruptions import interrupt
from scanner.jobs.leases import Lease
from scanner.models import ScanJob

logger = logging.getLogger(__name__)

LOOKAHEAD = 2  # batches planned (tags being read) ahead of the one being committed
COMMIT_INTERVAL = 0.5  # seconds: batches with little to write are committed together at most this often
ANALYZE_AFTER = 50_000  # rows a scan inserts before the catalogue's statistics are refreshed, then at each doubling


class ScanEngine:
    """Runs one claimed job to completion, or until it is stopped or loses its lease."""

    def __init__(self, lease: Lease, *, config: ScannerConfig, stop: threading.Event, worker_label: str = ""):
        self.lease = lease
        self.config = config
        self.stop = stop
        self.worker_label = worker_label
        self._carried: Batch | None = None  # planned batches waiting to commit with the next one
        self._last_commit = time.monotonic()
        self._inserted = 0  # rows this run inserted
        self._analyze_at = ANALYZE_AFTER

    def run(self) -> str:
        """'completed', 'failed', 'interrupted' or 'stopped' (paused, cancelled or taken over)."""
        try:
            walker, reads_all = self._load()
            discover(walker, progress=self.progress, committer=self.committer, stop=self.stop, reads_all=reads_all,
                     expect_reads=self.planner.expect_reads)
            self._scan(walker)
            return "completed"
        except (LeaseLost, Stopped):
            return "stopped"
        except RootUnavailable as exc:  # an absent folder: the changes a scan owes wait for it, uncounted
            return self._fail(f"{exc}. Nothing was marked missing.", error=str(exc), unavailable=True)
        except Exception as exc:
            if isinstance(exc, LostDurability) or is_outage(exc):
                logger.warning("database unavailable during scan: %s", exc, extra={"action": "db_error", **self._ids()})
                interrupt(self.lease, cause=f"a database error ({exc})", config=self.config)
                return "interrupted"
            logger.exception("scan crashed", extra={"action": "crashed", **self._ids()})
            return self._fail(f"The scan stopped on an unexpected error: {exc}", error=f"{type(exc).__name__}: {exc}")

    def _load(self) -> tuple[Walker, bool]:
        """The job's parts, each given what it needs when it is made; the walk, and whether
        every file it finds will be read."""
        job = ScanJob.objects.select_related("library").get(pk=self.lease.job_id)
        if job.library is None:
            raise RootUnavailable("The library was deleted")
        self.root = job.library.path
        scope = Scope(job.scope)
        roots = settings.MEDIA_ROOTS
        if roots and not any(is_within(self.root, root) for root in roots):
            raise RootUnavailable(f"The library folder {self.root} is outside MEDIA_ROOTS ({', '.join(roots)})")
        self.progress = Progress(checkpoint=job.checkpoint, found=job.files_found, percent=job.progress,
                                 totals={name: getattr(job, name) for name in COUNTERS})
        self.retry = Retry(stop=self.stop, log_ids=self._ids(),
                           on_reconnect=partial(check_durable, self.lease, self.progress))
        self.committer = Committer(self.lease, progress=self.progress, attempts=job.auto_resume_attempts,
                                   retry=self.retry, worker_label=self.worker_label, log_ids=self._ids())
        full = job.mode == ScanJob.Mode.FULL
        # A first or full scan reads every file it has a reader for (from the checkpoint on: a
        # resumed first scan has rows only before it); a quick rescan, only changed files.
        reads_all = full or self.retry(lambda: next(catalogue.rows_in_range(
            self.lease.library_id, job.checkpoint, None, with_meta=False, scope=scope, page_rows=1), None) is None)
        self.batcher = Batcher(checkpoint=job.checkpoint, batch_size=self.config.batch_size,
                               files_per_second=self.config.max_files_per_second, stop=self.stop,
                               reads=READ_EXTENSIONS if reads_all else frozenset())
        walker = Walker(self.root, after=job.checkpoint, on_dir_error=self.batcher.on_dir_error,
                        threads=self.config.walk_threads, scope=scope)
        window = self.config.move_window_days
        recently_missing = self.retry(lambda: moves.recently_missing(self.lease.library_id, window_days=window))
        self.planner = Planner(library_id=self.lease.library_id, job_id=self.lease.job_id, root=self.root, full=full,
                               metadata_workers=self.config.metadata_workers, read_timeout=self.config.read_timeout,
                               log_ids=self._ids(), scope=scope, slow_share=lambda: bool(walker.slow_share),
                               moves_window=window if recently_missing else 0)
        what = f"{self.root}" if not job.scope else f"{describe_scope(job.scope)} in {self.root}"
        if job.checkpoint:
            self._event("resumed",
                        f"Resuming {job.mode} scan of {what} after {words.count(job.files_processed, 'file')}")
        else:
            self._event("started", f"Starting {job.mode} scan of {what}")
        return walker, reads_all

    def _scan(self, walker: Walker) -> None:
        self.progress.run_started = time.monotonic()
        pending: deque[Batch] = deque()
        try:
            for run in self.batcher.runs(walker):
                pending.append(self.retry(partial(self.planner.plan, run)))
                # Hold batches back only while their tags are being read: stat-only batches
                # commit at once, so a crash redoes at most the one batch being walked.
                while pending and (len(pending) > LOOKAHEAD or not pending[-1].reads):
                    self._commit(pending.popleft(), walker)
            while pending:
                self._commit(pending.popleft(), walker)
        finally:
            for batch in pending:
                batch.cancel()

    def _commit(self, batch: Batch, walker: Walker) -> None:
        self.planner.finish(batch)
        self.batcher.check_stop()
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
        if batch.final:
            self.retry(lambda: self._check_root_before_finishing(walker))
        self.committer.commit(batch, self.progress.step(batch.counts, batch.upper))
        self._last_commit = time.monotonic()
        self._inserted += len(batch.inserts) + len(batch.basic_inserts)
        if self._inserted >= self._analyze_at:  # at each doubling: a few ANALYZEs, even for a million files
            self._analyze_at *= 2
            self.retry(catalogue.refresh_statistics)

    def _check_root_before_finishing(self, walker: Walker) -> None:
        walker.library_root.check()
        if walker.root_was_empty and selectors.catalogued_elsewhere(self.lease.library_id, walker.library_root.device):
            # An unmounted share leaves its empty mount point behind: on another device than its files.
            raise RootUnavailable(
                f"The library folder {self.root} is empty but files are catalogued; is the drive mounted?"
            )

    def _fail(self, message: str, *, error: str, unavailable: bool = False) -> str:
        lifecycle.fail_held(self.lease, error=error, message=message, unavailable=unavailable)
        return "failed"

    def _event(self, kind: str, message: str) -> None:
        record_event(self.lease.job_id, kind, message, worker=self.worker_label, library_id=self.lease.library_id)

    def _ids(self) -> dict:
        return {"job_id": self.lease.job_id, "library_id": self.lease.library_id, "worker": self.worker_label}

