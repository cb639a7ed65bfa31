"""Database operations on a job's lifecycle, each one atomic compare-and-set.

A job is held by the process whose worker id is `owner` and whose lease token matches: every
write a scanner makes is guarded by (id, lease_token, status='running'), so a job that was
paused, cancelled or claimed by someone else can never be written by a stale scanner.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce, Now

from scanner.events import record_event
from scanner.models import ScanJob, Worker

Status = ScanJob.Status


@dataclass(frozen=True)
class Lease:
    """A claimed job: what a scan thread needs to write it."""

    job_id: int
    library_id: int
    lease_token: int


def held(lease: Lease) -> QuerySet[ScanJob]:
    """The job row, if and only if this lease still holds it."""
    return ScanJob.objects.filter(pk=lease.job_id, lease_token=lease.lease_token, status=Status.RUNNING)


def released_fields() -> dict:
    """Fields that end ownership; every transition out of `running` sets them."""
    return {"owner": None, "worker_name": "", "files_per_second": 0, "updated_at": Now()}


def finished_fields(status: str) -> dict:
    """Fields of a job ending `status` (completed, failed or cancelled), from any open state."""
    return {**released_fields(), "status": status, "phase": ScanJob.Phase.DONE, "pause_reason": None,
            "completed_at": Now()}


class WorkerGone(Exception):
    """The claiming process's worker row was removed: it was judged dead by another process."""


def claim_next(worker: Worker, *, skip_library_ids: set[int] = frozenset()) -> Lease | None:
    """Claim the oldest pending job, skipping libraries this process is still winding down."""
    with transaction.atomic():
        if not Worker.objects.filter(pk=worker.pk).exists():
            raise WorkerGone(worker.label)  # never take a job under an owner others think dead
        # FOR UPDATE SKIP LOCKED on PostgreSQL: concurrent claimers each take a different row
        # instead of queueing on one. SQLite ignores it; there BEGIN IMMEDIATE serialises
        # claimers and the compare-and-set below decides.
        candidates = (
            ScanJob.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, library__isnull=False)
            .exclude(library_id__in=skip_library_ids)
            .order_by("created_at", "id")
            .values_list("pk", flat=True)[:1]
        )
        job_id = next(iter(candidates), None)
        return _take(job_id, worker) if job_id is not None else None


def claim_job(job_id: int, worker: Worker) -> Lease | None:
    """Claim one given pending job; None if somebody else got it first."""
    with transaction.atomic():
        return _take(job_id, worker)


def _take(job_id: int, worker: Worker) -> Lease | None:
    taken = ScanJob.objects.filter(pk=job_id, status=Status.PENDING, library__isnull=False).update(
        status=Status.RUNNING,
        owner=worker.id,
        worker_name=worker.label,
        lease_token=F("lease_token") + 1,
        heartbeat_at=Now(),
        started_at=Coalesce(F("started_at"), Now()),
        pause_reason=None,
        files_per_second=0,
        updated_at=Now(),
    )
    if not taken:
        return None
    library_id, token = ScanJob.objects.filter(pk=job_id).values_list("library_id", "lease_token").get()
    record_event(job_id, "claimed", f"Claimed by {worker.label} (lease {token})", worker=worker.label,
                 library_id=library_id)
    return Lease(job_id=job_id, library_id=library_id, lease_token=token)


def fail_held(lease: Lease, *, error: str, message: str) -> bool:
    return bool(
        held(lease).update(error_message=error, status_message=message, **finished_fields(Status.FAILED))
    )


def pause_held(lease: Lease, *, reason: str, message: str) -> bool:
    return bool(
        held(lease).update(
            status=Status.PAUSED, pause_reason=reason, status_message=message, paused_at=Now(), **released_fields()
        )
    )
