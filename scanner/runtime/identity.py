"""This process's worker row: who it is to the other processes, kept alive by heartbeats.

The row is created on first use (a fresh UUID, host, pid, pid namespace and start time) and
deleted on a clean shutdown. Another process that judges this one dead removes the row; a
heartbeat that finds it gone tells the runtime, which stops its scans (they may already run
elsewhere) and registers anew. Liveness is judged by the database's clock (DESIGN.md 4).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection

from scanner.core import procinfo
from scanner.jobs import workers
from scanner.jobs.leases import WorkerGone
from scanner.models import Worker

logger = logging.getLogger(__name__)


class WorkerIdentity:
    def __init__(self, kind: str):
        self.kind = kind
        self.worker: Worker | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()

    @property
    def label(self) -> str:
        return self.worker.label if self.worker else procinfo.process_label()

    def register(self) -> Worker:
        """This process's worker row, created on first use (never again once unregistered)."""
        with self._lock:
            if self._closed:
                raise WorkerGone("this process has unregistered: it is shutting down")
            if self.worker is None:
                self.worker = workers.register(self.kind)
                self._last_beat = time.monotonic()
                logger.info("worker registered", extra={"action": "worker_registered", "worker": self.worker.label})
            return self.worker

    def beat(self, worker: Worker, running_job_ids: Collection[int]) -> bool:
        """Refresh the row and the heartbeats of this process's running jobs; False if the
        row was removed (another process judged this one dead)."""
        if not workers.beat(worker.pk, running_job_ids):
            return False
        self._last_beat = time.monotonic()
        return True

    def silent_for(self) -> float:
        """Seconds since the last heartbeat that reached the database."""
        return time.monotonic() - self._last_beat

    def replace(self, lost: Worker) -> Worker:
        """`lost`'s row was removed: register anew, unless another thread already did."""
        with self._lock:
            if self.worker is not None and self.worker.pk == lost.pk:
                self.worker = None
        return self.register()

    def unregister(self) -> None:
        with self._lock:
            worker, self.worker, self._closed = self.worker, None, True
        if worker is not None:
            workers.unregister(worker.pk)
