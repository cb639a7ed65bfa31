"""This process's worker row: who it is to the other processes, kept alive by heartbeats.

The row is created on first use (a fresh UUID, host, pid, pid namespace and start time) and
deleted on a clean shutdown. Another process that judges this one dead removes the row; a
heartbeat that finds it gone tells the runtime, which stops its scans (they may already run
elsewhere) and registers anew. Liveness is judged by the database's clock (DESIGN.md 4).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Collection

from django.db.models.functions import Now

from scanner.core import procinfo
from scanner.jobs.lifecycle import WorkerGone
from scanner.models import ScanJob, Worker

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
                self.worker = Worker.objects.create(
                    hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(), pid=os.getpid(),
                    process_started=procinfo.process_start_ticks(), kind=self.kind,
                )
                self._last_beat = time.monotonic()
                logger.info("worker registered", extra={"action": "worker_registered", "worker": self.worker.label})
            return self.worker

    def beat(self, worker: Worker, running_job_ids: Collection[int]) -> bool:
        """Refresh the row and the heartbeats of this process's running jobs; False if the
        row was removed (another process judged this one dead)."""
        if not Worker.objects.filter(pk=worker.pk).update(heartbeat_at=Now()):
            return False
        self._last_beat = time.monotonic()
        if running_job_ids:
            ScanJob.objects.filter(pk__in=list(running_job_ids), owner=worker.pk,
                                   status=ScanJob.Status.RUNNING).update(heartbeat_at=Now())
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
            Worker.objects.filter(pk=worker.pk).delete()
