"""Worker rows: every write to them, and the one rule for whether a worker is dead (DESIGN.md 4, 5).

A worker row is one scanning process: created when it starts, its heartbeat refreshed by the
process (and by each claim), deleted on a clean exit, or by recovery once the process is judged
dead. Dead means: on this host (same boot and pid namespace), its pid is gone, is a zombie or
belongs to a newer process, at once; elsewhere, its heartbeat is older than the worker timeout
by the database's clock.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Now

from scanner.core import procinfo
from scanner.models import ScanJob, Worker

if TYPE_CHECKING:  # django_stubs_ext comes with django-stubs, a dev tool
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _Stale(TypedDict):
        stale: bool

    JudgedWorker = WithAnnotations[Worker, _Stale]


# ----------------------------------------------------------------- writes
def register(kind: str) -> Worker:
    """A row for this process: a fresh id, its host, pid, pid namespace and start time."""
    return Worker.objects.create(hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(),
                                 pid=os.getpid(), process_started=procinfo.process_start_ticks(), kind=kind)


def beat(worker_id, running_job_ids: Collection[int] = ()) -> bool:
    """Refresh the worker's heartbeat, and its running jobs'; False if its row was removed
    (another process judged it dead)."""
    if not Worker.objects.filter(pk=worker_id).update(heartbeat_at=Now()):
        return False
    if running_job_ids:
        ScanJob.objects.filter(pk__in=list(running_job_ids), owner=worker_id,
                               status=ScanJob.Status.RUNNING).update(heartbeat_at=Now())
    return True


def unregister(worker_id) -> None:
    Worker.objects.filter(pk=worker_id).delete()


def remove_dead(worker_id, *, still_dead: Q | Combinable) -> bool:
    """Delete a dead worker's row, if it is still dead at this moment (`still_dead`)."""
    return bool(Worker.objects.filter(still_dead, pk=worker_id).delete()[0])


# ----------------------------------------------------------------- the staleness rule
def judged(workers: QuerySet[Worker], *, timeout: float) -> QuerySet[JudgedWorker]:
    """Workers with `stale`: silent for longer than `timeout` seconds, by the database's clock."""
    return workers.annotate(stale=Case(When(heartbeat_at__lt=Now() - timedelta(seconds=timeout), then=Value(True)),
                                       default=Value(False), output_field=BooleanField()))


def beating(worker_id, *, timeout: float) -> QuerySet[Worker]:
    """The worker, if its heartbeat is fresher than `timeout` at the moment the query runs."""
    return Worker.objects.filter(pk=worker_id, heartbeat_at__gte=Now() - timedelta(seconds=timeout))


def pids_visible(worker: Worker) -> bool:
    """Whether this process can check the worker's pid (same host, boot and pid namespace)."""
    namespace = procinfo.pid_namespace()
    return bool(namespace) and (worker.hostname, worker.pid_namespace) == (procinfo.hostname(), namespace)


def dead_reason(worker: Worker, *, stale: bool) -> str | None:
    """Why `worker`'s process is dead, or None if it may be alive: on this host by its pid
    (exact, at once), elsewhere by its heartbeat (`stale`: older than the timeout by the
    database's clock)."""
    if pids_visible(worker):
        if procinfo.is_alive(worker.pid, worker.process_started):
            return None
        return f"server process {worker.label} is no longer running"
    if stale:
        return f"server process {worker.label} stopped sending heartbeats"
    return None
