"""A claimed job, as the thread running it holds it: the lease token fences stale owners."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from scanner.models import ScanJob


@dataclass(frozen=True)
class Lease:
    """A claimed job: what a scan thread needs to write it (the token fences stale owners)."""

    job_id: int
    library_id: int
    lease_token: int


class WorkerGone(Exception):
    """The claiming process's worker row was removed: another process judged it dead."""


def held(lease: Lease) -> QuerySet[ScanJob]:
    """The job row, if and only if this lease still holds it (running, under this token): every
    write a scan makes is guarded by it."""
    return ScanJob.objects.filter(pk=lease.job_id, lease_token=lease.lease_token, status=ScanJob.Status.RUNNING)
