"""The per-process scanner runtime (DESIGN.md section 4).

Each scanning process has one: its worker row (identity and heartbeat), a registry of its scan
threads (library id -> thread) bounded by SCANNER_MAX_CONCURRENT, and an APScheduler scheduler
with a process-local memory job store for its duties: claiming queued jobs (every
SCANNER_CLAIM_INTERVAL seconds, and at once when this process queues one) and heartbeats.

Only server entry points start it (gunicorn's post_fork, runserver's serving process,
`manage.py scanworker`, `manage.py scan`); importing this module starts nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.db import DatabaseError, connection
from django.db.models.functions import Now
from django_apscheduler.util import close_old_connections

from scanner import jobstore, procinfo
from scanner.conf import ScannerConfig, scanner_config
from scanner.engine import ScanEngine
from scanner.extraction import shutdown_pool
from scanner.jobstore import Lease
from scanner.models import ScanJob, Worker

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
            self.runtime._thread_done(self)


class ScanRuntime:
    def __init__(self, *, kind: str, config: ScannerConfig | None = None, claim_jobs: bool = True):
        self.kind = kind
        self.config = config or scanner_config()
        self.claim_jobs = claim_jobs
        self.worker: Worker | None = None
        self._threads: dict[int, ScanThread] = {}
        self._lock = threading.Lock()
        self._register_lock = threading.Lock()
        self._stopping = False
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )

    @property
    def worker_label(self) -> str:
        return self.worker.label if self.worker else f"{procinfo.hostname()}:{os.getpid()}"

    # ----------------------------------------------------------------- life cycle
    def start(self) -> ScanRuntime:
        """Start the duties; the worker row is registered by the first tick, off this thread."""
        now = datetime.now(timezone.utc)
        if self.claim_jobs:
            self._scheduler.add_job(self._claim_tick, "interval", seconds=self.config.claim_interval, id="claim",
                                    next_run_time=now)
        self._scheduler.add_job(self._heartbeat_tick, "interval", seconds=self.config.heartbeat_interval,
                                id="heartbeat", next_run_time=now)
        self._scheduler.start()
        return self

    def shutdown(self, *, timeout: float = 20) -> None:
        """Pause this process's scans (pause_reason=shutdown), wait for them, unregister."""
        self._stopping = True
        self._scheduler.shutdown(wait=False)
        threads = self.threads()
        for thread in threads:
            try:
                if jobstore.pause_held(thread.lease, reason=ScanJob.PauseReason.SHUTDOWN,
                                       message="Paused by a server shutdown; resumes when a server starts"):
                    logger.info("paused for shutdown", extra={"action": "shutdown_pause", "job": thread.lease.job_id,
                                                              "worker": self.worker_label})
            except DatabaseError:
                logger.warning("could not pause job %s for shutdown", thread.lease.job_id, exc_info=True)
            thread.stop_event.set()
        for thread in threads:
            thread.join(timeout)
        if self.worker is not None:
            try:
                Worker.objects.filter(pk=self.worker.pk).delete()
            except DatabaseError:
                logger.warning("could not delete worker row", exc_info=True)
        shutdown_pool()
        connection.close()

    @property
    def scheduler_running(self) -> bool:
        return self._scheduler.running and not self._stopping

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
            except Exception:  # scheduler shutting down, or not started
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

    # ----------------------------------------------------------------- duties
    def register(self) -> Worker:
        """This process's worker row, created on first use."""
        with self._register_lock:
            if self.worker is None:
                self.worker = Worker.objects.create(
                    hostname=procinfo.hostname(), boot_id=procinfo.boot_id(), pid=os.getpid(),
                    process_started=procinfo.process_start_ticks(), kind=self.kind,
                )
                logger.info("worker registered", extra={"action": "worker_registered", "worker": self.worker.label})
            return self.worker

    @close_old_connections
    def _claim_tick(self) -> None:
        if self._stopping:
            return
        worker = self.register()
        while True:
            with self._lock:
                busy = set(self._threads)
            if len(busy) >= self.config.max_concurrent or self._stopping:
                return
            lease = jobstore.claim_next(worker, skip_library_ids=busy)
            if lease is None:
                return
            logger.info("claimed", extra={"action": "claimed", "job": lease.job_id, "library": lease.library_id,
                                          "worker": worker.label})
            self.adopt(lease)

    @close_old_connections
    def _heartbeat_tick(self) -> None:
        if self._stopping:
            return
        worker = self.register()
        if not Worker.objects.filter(pk=worker.pk).update(heartbeat_at=Now()):
            # Another process declared us dead and removed our row: our leases may have been
            # taken over. Stop our scans (they could no longer commit anyway) and re-register.
            logger.warning("worker row gone; stopping this process's scans",
                           extra={"action": "worker_lost", "worker": worker.label})
            for thread in self.threads():
                thread.stop_event.set()
            self.worker = None
            self.register()
            return
        job_ids = self.running_job_ids()
        if job_ids:
            ScanJob.objects.filter(pk__in=job_ids, owner=worker.pk, status=ScanJob.Status.RUNNING).update(
                heartbeat_at=Now()
            )


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
