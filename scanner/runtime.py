"""The per-process scanner runtime (DESIGN.md sections 4 and 5).

Each scanning process has one: its worker row (identity and heartbeat), a registry of its scan
threads (library id -> thread) bounded by SCANNER_MAX_CONCURRENT, and an APScheduler scheduler
with a process-local memory job store for its duties:
- startup recovery, once, at once (in the scheduler's thread: start-up is never blocked);
- claiming queued jobs every SCANNER_CLAIM_INTERVAL seconds, and at once when this process
  queued one;
- heartbeats every SCANNER_HEARTBEAT_INTERVAL seconds;
- reconciliation every SCANNER_RECONCILE_INTERVAL seconds, both directions: threads whose job
  is no longer theirs are stopped; jobs the database shows running with no live owner (this
  process included) are recovered;
- housekeeping at the same pace: queueing scheduled rescans that are due, and pruning old
  scan history every SCANNER_PRUNE_INTERVAL seconds.
A duty that fails (database down, migrations pending) logs why and runs again next time.

Only server entry points start it (scanner/entrypoints.py); importing this module starts nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Now
from django_apscheduler.util import close_old_connections

from scanner import jobstore, procinfo
from scanner.conf import ScannerConfig, scanner_config
from scanner.engine import ScanEngine
from scanner.events import record_event
from scanner.extraction import shutdown_pool
from scanner.housekeeping import prune_history, queue_due_scans
from scanner.jobstore import Lease
from scanner.locks import try_shared_lock
from scanner.models import ScanJob, Worker
from scanner.recovery import recover_scans

logger = logging.getLogger(__name__)


class ScanThread(threading.Thread):
    """Runs one claimed job; closes its own database connection when it ends."""

    def __init__(self, runtime: ScanRuntime, lease: Lease):
        super().__init__(name=f"scan-job-{lease.job_id}", daemon=True)
        self.runtime = runtime
        self.lease = lease
        self.stop_event = threading.Event()
        self.outcome: str | None = None

    def run(self) -> None:
        try:
            engine = ScanEngine(
                self.lease, config=self.runtime.config, stop=self.stop_event, worker_label=self.runtime.worker_label
            )
            self.outcome = engine.run()
        finally:
            connection.close()
            logger.info("scan thread ended", extra={"action": "thread_ended", "job": self.lease.job_id,
                                                    "library": self.lease.library_id, "outcome": self.outcome,
                                                    "worker": self.runtime.worker_label})
            self.runtime._thread_done(self)


def duty(func):
    """A scheduled duty: fresh database connections, and a database error logged, not raised."""

    @close_old_connections
    def run(self: ScanRuntime) -> None:
        if self._stopping:
            return
        try:
            func(self)
        except DatabaseError as exc:
            logger.warning("%s postponed: database unavailable or not migrated: %s", func.__name__.strip("_"), exc,
                           extra={"action": "duty_failed", "worker": self.worker_label})

    run.__name__ = func.__name__
    return run


class ScanRuntime:
    def __init__(self, *, kind: str, config: ScannerConfig | None = None, claim_jobs: bool = True):
        self.kind = kind
        self.config = config or scanner_config()
        self.claim_jobs = claim_jobs
        self.worker: Worker | None = None
        self._threads: dict[int, ScanThread] = {}
        self._lock = threading.Lock()  # guards the registry
        self._register_lock = threading.Lock()
        # Held while claiming-and-adopting and while reconciling, so the reconciler never sees
        # a job this process just claimed but has not yet given a thread.
        self._claim_lock = threading.Lock()
        self._stopping = False
        self._last_heartbeat = time.monotonic()
        self._last_prune = float("-inf")
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )

    @property
    def worker_label(self) -> str:
        return self.worker.label if self.worker else f"{procinfo.hostname()}:{os.getpid()}"

    @property
    def scheduler_running(self) -> bool:
        return self._scheduler.running and not self._stopping

    # ----------------------------------------------------------------- life cycle
    def start(self) -> ScanRuntime:
        """Start the duties in the scheduler's threads; nothing here touches the database."""
        now = datetime.now(timezone.utc)
        add = self._scheduler.add_job
        if self.claim_jobs:
            add(self._startup_recovery, id="startup_recovery", next_run_time=now)
            add(self._claim, "interval", seconds=self.config.claim_interval, id="claim", next_run_time=now)
            # Jittered, so processes started together do not all sweep at the same instant.
            jitter = self.config.reconcile_interval / 5
            add(self._reconcile, "interval", seconds=self.config.reconcile_interval, id="reconcile", jitter=jitter)
            add(self._housekeeping, "interval", seconds=self.config.reconcile_interval, id="housekeeping",
                next_run_time=now, jitter=jitter)
        add(self._heartbeat, "interval", seconds=self.config.heartbeat_interval, id="heartbeat", next_run_time=now)
        self._scheduler.start()
        return self

    def shutdown(self, *, timeout: float = 20) -> None:
        """Pause this process's scans (pause_reason=shutdown), wait for them, unregister."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        with self._claim_lock:  # a claim in progress finishes adopting before we look
            threads = self.threads()
        for thread in threads:
            message = "Paused by a server shutdown; resumes when a server starts"
            try:
                if jobstore.pause_held(thread.lease, reason=ScanJob.PauseReason.SHUTDOWN, message=message):
                    record_event(thread.lease.job_id, "shutdown_paused", message, worker=self.worker_label,
                                 library_id=thread.lease.library_id)
            except DatabaseError:
                logger.warning("could not pause job %s for shutdown", thread.lease.job_id, exc_info=True)
            thread.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.worker is not None:
            try:
                Worker.objects.filter(pk=self.worker.pk).delete()
            except DatabaseError:
                logger.warning("could not delete worker row", exc_info=True)
        shutdown_pool()
        connection.close()

    # ----------------------------------------------------------------- registry
    def threads(self) -> list[ScanThread]:
        with self._lock:
            return list(self._threads.values())

    def running_job_ids(self) -> list[int]:
        return [t.lease.job_id for t in self.threads() if t.is_alive()]

    def stop_local(self, job_id: int) -> bool:
        """Stop this process's thread for `job_id` at once, if it has one."""
        for thread in self.threads():
            if thread.lease.job_id == job_id:
                thread.stop_event.set()
                return True
        return False

    def wake(self) -> None:
        """Claim queued jobs now rather than at the next interval."""
        if self.claim_jobs and not self._stopping:
            try:
                self._scheduler.modify_job("claim", next_run_time=datetime.now(timezone.utc))
            except Exception:  # the scheduler is shutting down or not started
                pass

    def adopt(self, lease: Lease) -> ScanThread:
        """Run an already-claimed job in a thread of this process."""
        thread = ScanThread(self, lease)
        with self._lock:
            self._threads[lease.library_id] = thread
        thread.start()
        return thread

    def _thread_done(self, thread: ScanThread) -> None:
        with self._lock:
            if self._threads.get(thread.lease.library_id) is thread:
                del self._threads[thread.lease.library_id]
            idle = not self._threads
        if idle:
            shutdown_pool()
        self.wake()

    def register(self) -> Worker:
        """This process's worker row, created on first use."""
        with self._register_lock:
            if self.worker is None:
                self.worker = Worker.objects.create(
                    hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(), pid=os.getpid(),
                    process_started=procinfo.process_start_ticks(), kind=self.kind,
                )
                logger.info("worker registered", extra={"action": "worker_registered", "worker": self.worker.label})
            return self.worker

    # ----------------------------------------------------------------- duties
    @duty
    def _startup_recovery(self) -> None:
        self._recover(source="startup")

    @duty
    def _claim(self) -> None:
        worker = self.register()
        with self._claim_lock:
            while not self._stopping:
                with self._lock:
                    busy = set(self._threads)
                if len(busy) >= self.config.max_concurrent:
                    return
                try:
                    lease = jobstore.claim_next(worker, skip_library_ids=busy)
                except jobstore.WorkerGone:
                    self._worker_lost()
                    return
                if lease is None:
                    return
                self.adopt(lease)

    @duty
    def _heartbeat(self) -> None:
        try:
            self._beat()
        except DatabaseError:
            silent = time.monotonic() - self._last_heartbeat
            if silent > self.config.worker_timeout:
                # Others now judge this process dead and may resume its jobs: stop ours.
                self._stop_all("heartbeats failed for longer than the worker timeout")
            raise

    @duty
    def _reconcile(self) -> None:
        self._stop_threads_that_lost_their_job()
        self._recover(source="reconcile")
        self._beat()

    @duty
    def _housekeeping(self) -> None:
        with transaction.atomic():
            if try_shared_lock("schedule") and queue_due_scans():
                transaction.on_commit(self.wake)
        if time.monotonic() - self._last_prune >= self.config.prune_interval:
            with transaction.atomic():
                if try_shared_lock("prune"):
                    prune_history(retention_days=self.config.retention_days)
            self._last_prune = time.monotonic()

    # ----------------------------------------------------------------- helpers
    def _beat(self) -> None:
        worker = self.register()
        if not Worker.objects.filter(pk=worker.pk).update(heartbeat_at=Now()):
            self._worker_lost()
            return
        self._last_heartbeat = time.monotonic()
        job_ids = self.running_job_ids()
        if job_ids:
            ScanJob.objects.filter(pk__in=job_ids, owner=worker.pk, status=ScanJob.Status.RUNNING).update(
                heartbeat_at=Now()
            )

    def _worker_lost(self) -> None:
        """Another process judged us dead and removed our row: our jobs may have been resumed
        elsewhere. Stop our scans (they could no longer commit) and register anew."""
        self._stop_all("this process's worker row was removed")
        with self._register_lock:
            self.worker = None
        self.register()

    def _recover(self, *, source: str) -> None:
        worker = self.register()
        with self._claim_lock:
            report = recover_scans(worker=worker, live_job_ids=self.running_job_ids(), source=source,
                                   config=self.config)
        if any(d.action == "auto_resumed" for d in report.decisions):
            self.wake()

    def _stop_threads_that_lost_their_job(self) -> None:
        """Reconcile, thread side: a thread whose job row is gone, no longer running, or held
        under another lease is stopped."""
        threads = [t for t in self.threads() if t.outcome is None]
        rows = {
            pk: (status, token, owner)
            for pk, status, token, owner in ScanJob.objects.filter(pk__in=[t.lease.job_id for t in threads])
            .values_list("pk", "status", "lease_token", "owner")
        }
        for thread in threads:
            row = rows.get(thread.lease.job_id)
            if row == (ScanJob.Status.RUNNING, thread.lease.lease_token, self.worker.pk if self.worker else None):
                continue
            # Stopped, but kept in the registry until it ends: its library stays busy here.
            thread.stop_event.set()
            state = "deleted" if row is None else f"{row[0]}, lease {row[1]}"
            if row is not None and row[0] != ScanJob.Status.COMPLETED:
                record_event(thread.lease.job_id, "thread_stopped",
                             f"Stopped a scan thread of {self.worker_label}: its job is now {state}",
                             worker=self.worker_label, library_id=thread.lease.library_id)

    def _stop_all(self, why: str) -> None:
        logger.warning("stopping this process's scans: %s", why, extra={"action": "stop_all", "worker": self.worker_label})
        for thread in self.threads():
            thread.stop_event.set()


_runtime: ScanRuntime | None = None
_runtime_lock = threading.Lock()


def start_runtime(kind: str, *, claim_jobs: bool = True) -> ScanRuntime | None:
    """Start this process's runtime once; None when SCANNER_ENABLED is off."""
    global _runtime
    config = scanner_config()
    if not config.enabled:
        logger.info("scanner disabled in this process", extra={"action": "scanner_disabled"})
        return None
    with _runtime_lock:
        if _runtime is None:
            _runtime = ScanRuntime(kind=kind, config=config, claim_jobs=claim_jobs).start()
        return _runtime


def current_runtime() -> ScanRuntime | None:
    return _runtime


def stop_runtime(*, timeout: float = 20) -> None:
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown(timeout=timeout)
