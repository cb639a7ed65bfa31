"""The per-process scanner runtime: its duties on a schedule (DESIGN.md sections 4 and 5).

It ties together this process's worker identity (scanner/identity.py), its scan threads
(scanner/registry.py) and an APScheduler scheduler with a process-local memory job store:
- startup recovery, once, at once (in the scheduler's thread: start-up is never blocked);
- claiming queued jobs every SCANNER_CLAIM_INTERVAL seconds, and at once when a job was queued
  in this process (scanner.signals tells it);
- heartbeats every SCANNER_HEARTBEAT_INTERVAL seconds;
- reconciliation every SCANNER_RECONCILE_INTERVAL seconds, both directions: threads whose job
  is no longer theirs are stopped; jobs the database shows running with no live owner (this
  process included) are recovered;
- housekeeping at the same pace: scheduled rescans that are due, pruning old scan history.
A duty that fails (database down, migrations pending) logs why and runs again next time.

Only server entry points start it (scanner/entrypoints.py); importing this module starts nothing.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import datetime, timezone

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.db import DatabaseError, connection, transaction
from django_apscheduler.util import close_old_connections

from scanner import lifecycle
from scanner.conf import ScannerConfig, scanner_config
from scanner.engine import ScanEngine, interrupt
from scanner.events import record_event
from scanner.extraction import shutdown_pool
from scanner.housekeeping import prune_history, queue_due_scans
from scanner.identity import WorkerIdentity
from scanner.lifecycle import Lease
from scanner.locks import try_shared_lock
from scanner.models import ScanJob, Worker
from scanner.recovery import recover_scans
from scanner.registry import ScanThread, ThreadRegistry
from scanner.signals import job_changed

logger = logging.getLogger(__name__)


def duty(func):
    """A scheduled duty: fresh database connections, and a database error logged, not raised."""

    @functools.wraps(func)
    @close_old_connections
    def run(self: ScanRuntime) -> None:
        if self._stopping:
            return
        try:
            func(self)
        except DatabaseError as exc:
            logger.warning("%s postponed: database unavailable or not migrated: %s", func.__name__, exc,
                           extra={"action": "duty_failed", "worker": self.worker_label})

    return run


class ScanRuntime:
    def __init__(self, *, kind: str, config: ScannerConfig | None = None, claim_jobs: bool = True):
        self.config = config or scanner_config()
        self.claim_jobs = claim_jobs
        self.identity = WorkerIdentity(kind)
        self.registry = ThreadRegistry(on_thread_end=self._thread_ended)
        # Held while claiming-and-starting and while recovering, so recovery never sees a job
        # this process just claimed but has not yet given a thread.
        self._claim_lock = threading.Lock()
        self._stopping = False
        self._last_prune = float("-inf")
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )

    @property
    def worker(self) -> Worker | None:
        return self.identity.worker

    @property
    def worker_label(self) -> str:
        return self.identity.label

    @property
    def scheduler_running(self) -> bool:
        return self._scheduler.running and not self._stopping

    # ----------------------------------------------------------------- life cycle
    def start(self) -> ScanRuntime:
        """Start the duties in the scheduler's threads; nothing here touches the database."""
        now = datetime.now(timezone.utc)
        add = self._scheduler.add_job
        if self.claim_jobs:
            add(self.recover, id="startup_recovery", next_run_time=now)
            add(self.claim_pending, "interval", seconds=self.config.claim_interval, id="claim", next_run_time=now)
            # Jittered, so processes started together do not all sweep at the same instant.
            jitter = self.config.reconcile_interval / 5
            add(self.reconcile, "interval", seconds=self.config.reconcile_interval, id="reconcile", jitter=jitter)
            add(self.housekeeping, "interval", seconds=self.config.reconcile_interval, id="housekeeping",
                next_run_time=now, jitter=jitter)
        add(self.heartbeat, "interval", seconds=self.config.heartbeat_interval, id="heartbeat", next_run_time=now)
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
            threads = self.registry.threads()
        for thread in threads:
            try:
                lifecycle.pause_for_shutdown(thread.lease)
            except DatabaseError:
                logger.warning("could not pause job %s for shutdown", thread.lease.job_id, exc_info=True)
            thread.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
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
                self._scheduler.modify_job("claim", next_run_time=datetime.now(timezone.utc))
            except Exception:  # the scheduler is shutting down or not started
                pass

    def _scan(self, lease: Lease, stop: threading.Event) -> str:
        return ScanEngine(lease, config=self.config, stop=stop, worker_label=self.worker_label).run()

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
        """Recovery as at startup: orphaned, duplicate and resumable jobs (scanner/recovery.py)."""
        self._recover()

    @duty
    def claim_pending(self) -> None:
        worker = self.identity.register()
        with self._claim_lock:
            while not self._stopping:
                busy = self.registry.busy_library_ids()
                if len(busy) >= self.config.max_concurrent:
                    return
                try:
                    lease = lifecycle.claim_next(worker, skip_library_ids=busy)
                except lifecycle.WorkerGone:
                    self._worker_lost()
                    return
                if lease is None or self.adopt(lease) is None:
                    return

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
        self._stop_threads_that_lost_their_job()
        self._recover()
        self._beat()

    @duty
    def housekeeping(self) -> None:
        with transaction.atomic():
            if try_shared_lock("schedule"):
                queue_due_scans()
        if time.monotonic() - self._last_prune >= self.config.prune_interval:
            with transaction.atomic():
                if try_shared_lock("prune"):
                    prune_history(retention_days=self.config.retention_days)
            self._last_prune = time.monotonic()

    # ----------------------------------------------------------------- helpers
    def _recover(self) -> None:
        worker = self.identity.register()
        with self._claim_lock:
            recover_scans(worker=worker, live_job_ids=self.registry.running_job_ids(), config=self.config)

    def _beat(self) -> None:
        if not self.identity.beat(self.registry.running_job_ids()):
            self._worker_lost()

    def _worker_lost(self) -> None:
        """Another process judged us dead and removed our row: our jobs may have been resumed
        elsewhere. Stop our scans (they could no longer commit) and register anew."""
        self.registry.stop_all("this process's worker row was removed")
        self.identity.forget()
        self.identity.register()

    def _stop_threads_that_lost_their_job(self) -> None:
        """Reconcile, thread side: a thread whose job row is gone, no longer running, or held
        under another lease is stopped (once: a stopped thread may take a moment to end)."""
        threads = [t for t in self.registry.threads() if not t.stop_event.is_set()]
        rows = {
            pk: (status, token, owner)
            for pk, status, token, owner in ScanJob.objects.filter(pk__in=[t.lease.job_id for t in threads])
            .values_list("pk", "status", "lease_token", "owner")
        }
        worker_id = self.worker.pk if self.worker else None
        for thread in threads:
            row = rows.get(thread.lease.job_id)
            if row == (ScanJob.Status.RUNNING, thread.lease.lease_token, worker_id) or thread.outcome is not None:
                continue
            # Stopped, but kept in the registry until it ends: its library stays busy here.
            thread.stop_event.set()
            state = "deleted" if row is None else f"{row[0]}, lease {row[1]}"
            if row is not None and row[0] != ScanJob.Status.COMPLETED:
                record_event(thread.lease.job_id, "thread_stopped",
                             f"Stopped a scan thread of {self.worker_label}: its job is now {state}",
                             worker=self.worker_label, library_id=thread.lease.library_id)
