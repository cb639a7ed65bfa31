"""This process's scan threads: at most one per library, each running one claimed job.

A thread reports its end through the callback it was given, after closing its own database
connection; the registry forgets it then, so a library stays busy here until its thread has
really ended (a stopped thread may take a moment to wind down).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connection

from scanner.lifecycle import Lease

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
