"""Scheduled rescans and retention: duties every scanning process runs, safe to run at once.

A library with a `scan_interval` is due when its last scan was queued longer ago than that
(or it was never scanned); the process that notices first queues a quick scan, and the "one open
job per library" constraint turns any second attempt into a no-op. Pruning deletes finished
jobs (and their events) older than SCANNER_RETENTION_DAYS, always keeping each library's
latest job, so status and "next scan at" stay right.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, OuterRef, QuerySet, Subquery, When
from django.db.models.functions import Coalesce, Now

from common.locks import shared_duty, try_shared_lock
from libraries.models import Library
from scanner.jobs import lifecycle
from scanner.models import ScanJob

if TYPE_CHECKING:  # django_stubs_ext comes with django-stubs, a dev tool
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _NextScan(TypedDict):
        last_scan_at: datetime | None
        next_scan_at: datetime | None

logger = logging.getLogger(__name__)
FINISHED = (ScanJob.Status.COMPLETED, ScanJob.Status.FAILED, ScanJob.Status.CANCELLED)


def with_next_scan(libraries: QuerySet[Library]) -> QuerySet[WithAnnotations[Library, _NextScan]]:
    """Annotate `next_scan_at`: when the last scan was queued plus the interval; never scanned:
    when the library was added (due at once); None without an interval."""
    last = ScanJob.objects.filter(library=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    after_last = ExpressionWrapper(F("last_scan_at") + F("scan_interval"), output_field=DateTimeField())
    return libraries.annotate(last_scan_at=Subquery(last)).annotate(
        next_scan_at=Case(When(scan_interval__isnull=True, then=None), default=Coalesce(after_last, F("created_at")),
                          output_field=DateTimeField())
    )


def next_scan_at(library: Library) -> datetime | None:
    """The library's next scheduled scan (None without an interval), annotated or looked up."""
    if hasattr(library, "next_scan_at"):
        return library.next_scan_at
    return with_next_scan(Library.objects.filter(pk=library.pk)).get().next_scan_at


def run_shared_duties(*, prune: bool, retention_days: int) -> None:
    """One round of the duties every scanning process runs, each taken by one process at a time.
    Each scheduled scan is queued in a transaction of its own: a library deleted meanwhile fails
    its own insert, not the round."""
    with shared_duty("schedule") as ours:
        if ours:
            queue_due_scans()
    if prune:
        with transaction.atomic():
            if try_shared_lock("prune"):
                prune_history(retention_days=retention_days)


def queue_due_scans() -> list[int]:
    """Queue a quick scan of every due library with no open scan; returns the new job ids."""
    open_libraries = ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES).values("library_id")
    due = (with_next_scan(Library.objects.filter(scan_interval__isnull=False))
           .exclude(pk__in=open_libraries).filter(next_scan_at__lte=Now()))
    queued = []
    for library in due:
        job = lifecycle.queue(library_id=library.pk, mode=ScanJob.Mode.QUICK, trigger=ScanJob.Trigger.SCHEDULE,
                              message=f"Scheduled quick scan (every {library.scan_interval})")
        if job is not None:  # else another process queued it, or a scan opened meanwhile
            queued.append(job.pk)
    return queued


def prune_history(*, retention_days: int) -> int:
    """Delete finished jobs older than the retention (their events go with them); returns how many."""
    if retention_days <= 0:
        return 0
    latest_per_library = (ScanJob.objects.filter(library_id=OuterRef("library_id")).order_by("-created_at", "-id")
                          .values("pk")[:1])
    old = ScanJob.objects.filter(status__in=FINISHED, completed_at__lt=Now() - timedelta(days=retention_days))
    keep = ScanJob.objects.filter(library__isnull=False, pk=Subquery(latest_per_library)).values("pk")
    _, per_model = old.exclude(pk__in=keep).delete()
    jobs = per_model.get(ScanJob._meta.label, 0)
    if jobs:
        logger.info("pruned %s finished scans older than %s days", jobs, retention_days, extra={"action": "pruned"})
    return jobs
