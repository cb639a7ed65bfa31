"""The per-process scanner runtime: its duties on a schedule (DESIGN.md sections 4 and 5).

It ties together this process's worker identity (scanner/runtime/identity.py), its scan threads
(scanner/runtime/registry.py) and an APScheduler scheduler with a process-local memory job store:
- startup recovery, once, at once (in the scheduler's thread: start-up is never blocked);
- claiming queued jobs every SCANNER_CLAIM_INTERVAL seconds, and at once when a job was queued
  in this process (scanner.signals tells it);
- heartbeats every SCANNER_HEARTBEAT_INTERVAL seconds;
- reconciliation every SCANNER_RECONCILE_INTERVAL seconds, both directions: threads whose job
  is no longer theirs are stopped; jobs the database shows running with no live owner (this
  process included) are recovered;
- housekeeping at the same pace: scheduled rescans that are due, pruning old scan history;
- watching libraries for changes, a few times a second (scanner/runtime/watching.py), unless
  SCANNER_WATCH is off.
A duty that fails (database down, migrations pending) logs why and runs again next time.

Only server entry points start it (scanner/runtime/entrypoints.py); importing this module starts nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from django.db import DatabaseError, connection

from scanner.conf import ScannerConfig, scanner_config
from scanner.core.readers import shutdown_pool
from scanner.engine import ScanEngine
from scanner.jobs import lifecycle
from scanner.jobs.changes import queue_scans_for_changes
from scanner.jobs.interruptions import interrupt
from scanner.jobs.leases import Lease, WorkerGone
from scanner.jobs.recovery import recover_scans
from scanner.jobs.schedule import run_shared_duties
from scanner.models import ScanJob, Worker
from scanner.runtime.duties import duty, new_scheduler, schedule_duties
from scanner.runtime.identity import WorkerIdentity
from scanner.runtime.registry import ScanThread, ThreadRegistry
from scanner.runtime.watching import Watcher
from scanner.signals import job_changed

logger = logging.getLogger(__name__)

class ScanRuntime:
    def __init__(self, *, kind: str, config: ScannerConfig | None = None, claim_jobs: bool = True,
                 scan: Callable[[Lease, threading.Event], str] | None = None):
        self.config = config or scanner_config()
        self.claim_jobs = claim_jobs
        self.identity = WorkerIdentity(kind)
        # What runs a claimed job in its thread: the engine (tests may simulate one).
        self._scan = scan or partial(scan_with_engine, config=self.config, identity=self.identity)
        self.registry = ThreadRegistry(on_thread_end=self._thread_ended)
        # Held while claiming-and-starting and while recovering, so recovery never sees a job
        # this process just claimed but has not yet given a thread.
        self._claim_lock = threading.Lock()
        self._stopping = False
        self._last_prune = float("-inf")
        self.watcher = Watcher(delay=self.config.watch_delay, label=self.identity.label) \
            if claim_jobs and self.config.watch else None
        self._scheduler = new_scheduler()

    @property
    def scheduler_running(self) -> bool:
        return self._scheduler.running and not self._stopping

    # ----------------------------------------------------------------- life cycle
    def start(self) -> ScanRuntime:
        """Start the duties in the scheduler's threads; nothing here touches the database."""
        schedule_duties(self._scheduler, self)
        job_changed.connect(self._job_changed)
        self._scheduler.start()
        return self

    def shutdown(self, *, timeout: float = 20) -> None:
        """Pause this process's scans (pause_reason=shutdown), wait for them, unregister."""
        self._stopping = True
        job_changed.disconnect(self._job_changed)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        with self._claim_lock:  # a claim in progress finishes starting its thread before we look
            self.registry.pause_all_for_shutdown(timeout=timeout)
        if self.watcher is not None:
            self.watcher.stop()  # its leases go with the worker row
        try:
            self.identity.unregister()
        except DatabaseError:
            logger.warning("could not delete worker row", exc_info=True)
        shutdown_pool()
        connection.close()

    # ----------------------------------------------------------------- threads
    def adopt(self, lease: Lease) -> ScanThread | None:
        """Run an already-claimed job in a thread of this process. If no thread can start, the
        job is paused as interrupted (to resume when one can) and None returned."""
        try:
            return self.registry.start(lease, self._scan)
        except (RuntimeError, MemoryError) as exc:  # "can't start new thread": out of threads or memory
            logger.error("could not start a scan thread: %s", exc, extra={"action": "thread_start_failed"})
            interrupt(lease, cause=f"a failure to start its thread ({exc})", config=self.config)
            return None

    def wake(self) -> None:
        """Claim queued jobs now rather than at the next interval."""
        if self.claim_jobs and not self._stopping:
            try:
                self._scheduler.modify_job("claim", next_run_time=datetime.now(UTC))
            except Exception:  # the scheduler is shutting down or not started
                pass

    def _thread_ended(self, idle: bool) -> None:
        if idle:
            shutdown_pool()
        self.wake()

    def _job_changed(self, sender, *, job_id: int, status: str, **kwargs) -> None:
        """A job changed in this process: claim it if it was queued; stop our thread for it if
        it is no longer running (a pause or cancel here, its library deleted)."""
        if status == ScanJob.Status.PENDING:
            self.wake()
        elif status != ScanJob.Status.RUNNING:
            self.registry.stop(job_id)

    # ----------------------------------------------------------------- duties
    @duty
    def recover(self) -> None:
        """Recovery as at startup: orphaned, duplicate and resumable jobs (scanner/jobs/recovery.py)."""
        self._recover()

    @duty
    def claim_pending(self) -> None:
        worker = self.identity.register()
        queue_scans_for_changes()  # changes noted elsewhere, or left when their library's job ended
        with self._claim_lock:
            while not self._stopping:
                busy = self.registry.busy_library_ids()
                if len(busy) >= self.config.max_concurrent:
                    return
                try:
                    lease = lifecycle.claim_next(worker, skip_library_ids=busy)
                except WorkerGone:
                    self._worker_lost(worker)
                    return
                if lease is None or self.adopt(lease) is None:
                    return

    @duty
    def watch(self) -> None:
        assert self.watcher is not None
        self.watcher.tick(self.identity.register())

    @duty
    def heartbeat(self) -> None:
        try:
            self._beat()
        except DatabaseError:
            if self.identity.silent_for() > self.config.worker_timeout:
                # Others now judge this process dead and may resume its jobs: stop ours.
                self.registry.stop_all("heartbeats failed for longer than the worker timeout")
            raise

    @duty
    def reconcile(self) -> None:
        worker = self.identity.register()
        self.registry.stop_threads_whose_job_moved_on(worker.pk, worker.label)
        self._recover()
        self._beat()

    @duty
    def housekeeping(self) -> None:
        prune = time.monotonic() - self._last_prune >= self.config.prune_interval
        run_shared_duties(prune=prune, retention_days=self.config.retention_days)
        if prune:
            self._last_prune = time.monotonic()

    # ----------------------------------------------------------------- helpers
    def _recover(self) -> None:
        worker = self.identity.register()
        with self._claim_lock:
            recover_scans(worker=worker, live_job_ids=self.registry.running_job_ids(), config=self.config)

    def _beat(self) -> None:
        worker = self.identity.register()
        if not self.identity.beat(worker, self.registry.running_job_ids()):
            self._worker_lost(worker)

    def _worker_lost(self, lost: Worker) -> None:
        """Another process judged us dead and removed our row: stop our scans (they may run elsewhere now)."""
        self.registry.stop_all("this process's worker row was removed")
        self.identity.replace(lost)


def scan_with_engine(lease: Lease, stop: threading.Event, *, config: ScannerConfig, identity: WorkerIdentity) -> str:
    return ScanEngine(lease, config=config, stop=stop, worker_label=identity.label).run()
