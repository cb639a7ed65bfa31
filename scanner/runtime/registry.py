"""This process's scan threads: at most one per library, each running one claimed job.

A thread reports its end through the callback it was given, after closing its own database
connection; the registry forgets it then, so a library stays busy here until its thread has
really ended (a stopped thread may take a moment to wind down).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from uuid import UUID

from django.db import DatabaseError, connection

from scanner.jobs import lifecycle
from scanner.jobs.events import record_event
from scanner.jobs.leases import Lease
from scanner.models import ScanJob

logger = logging.getLogger(__name__)


class ScanThread(threading.Thread):
    """Runs `scan(lease, stop_event)`, which returns the outcome, then calls `on_end(self)`."""

    def __init__(self, lease: Lease, *, scan: Callable[[Lease, threading.Event], str],
                 on_end: Callable[[ScanThread], None]):
        super().__init__(name=f"scan-job-{lease.job_id}", daemon=True)
        self.lease = lease
        self.stop_event = threading.Event()
        self.outcome: str | None = None
        self._scan = scan
        self._on_end = on_end

    def run(self) -> None:
        try:
            self.outcome = self._scan(self.lease, self.stop_event)
        finally:
            connection.close()
            logger.info("scan thread ended", extra={"action": "thread_ended", "job": self.lease.job_id,
                                                    "library": self.lease.library_id, "outcome": self.outcome})
            self._on_end(self)


class ThreadRegistry:
    def __init__(self, *, on_thread_end: Callable[[bool], None]):
        self._threads: dict[int, ScanThread] = {}  # library id -> its thread
        self._lock = threading.Lock()
        self._on_thread_end = on_thread_end  # told, after a thread ended, whether none is left

    def threads(self) -> list[ScanThread]:
        with self._lock:
            return list(self._threads.values())

    def busy_library_ids(self) -> set[int]:
        with self._lock:
            return set(self._threads)

    def running_job_ids(self) -> list[int]:
        return [t.lease.job_id for t in self.threads() if t.is_alive()]

    def start(self, lease: Lease, scan: Callable[[Lease, threading.Event], str]) -> ScanThread:
        """Run an already-claimed job in a new thread; the slot is freed if the thread cannot start."""
        thread = ScanThread(lease, scan=scan, on_end=self._ended)
        with self._lock:
            self._threads[lease.library_id] = thread
        try:
            thread.start()
        except BaseException:
            self._forget(thread)
            raise
        return thread

    def stop(self, job_id: int) -> bool:
        """Ask this process's thread for `job_id` to stop at once, if there is one."""
        for thread in self.threads():
            if thread.lease.job_id == job_id:
                thread.stop_event.set()
                return True
        return False

    def pause_all_for_shutdown(self, *, timeout: float) -> None:
        """Pause every job running here (pause_reason=shutdown) and wait for the threads to end."""
        threads = self.threads()
        for thread in threads:
            try:
                lifecycle.pause_for_shutdown(thread.lease)
            except DatabaseError:
                logger.warning("could not pause job %s for shutdown", thread.lease.job_id, exc_info=True)
            thread.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stop_threads_whose_job_moved_on(self, worker_id: UUID | None, worker_label: str) -> None:
        """Reconcile, thread side: a thread whose job row is gone, no longer running, or held
        under another lease is stopped (once: a stopped thread may take a moment to end)."""
        threads = [t for t in self.threads() if not t.stop_event.is_set()]
        rows = {
            pk: (status, token, owner)
            for pk, status, token, owner in ScanJob.objects.filter(pk__in=[t.lease.job_id for t in threads])
            .values_list("pk", "status", "lease_token", "owner")
        }
        for thread in threads:
            row = rows.get(thread.lease.job_id)
            if row == (ScanJob.Status.RUNNING, thread.lease.lease_token, worker_id) or thread.outcome is not None:
                continue
            # Stopped, but kept here until it ends: its library stays busy in this process.
            thread.stop_event.set()
            state = "deleted" if row is None else f"{row[0]}, lease {row[1]}"
            if row is not None and row[0] != ScanJob.Status.COMPLETED:
                record_event(thread.lease.job_id, "thread_stopped",
                             f"Stopped a scan thread of {worker_label}: its job is now {state}",
                             worker=worker_label, library_id=thread.lease.library_id)

    def stop_all(self, why: str) -> None:
        logger.warning("stopping this process's scans: %s", why, extra={"action": "stop_all"})
        for thread in self.threads():
            thread.stop_event.set()

    def _ended(self, thread: ScanThread) -> None:
        self._on_thread_end(self._forget(thread))

    def _forget(self, thread: ScanThread) -> bool:
        """Drop the thread's slot; whether no thread is left."""
        with self._lock:
            if self._threads.get(thread.lease.library_id) is thread:
                del self._threads[thread.lease.library_id]
            return not self._threads
