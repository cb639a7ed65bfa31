"""Pending changes: every write to PendingChange rows (DESIGN.md 8, "A change is owed until a scan
has read it").

A change is written before anyone is told it was taken; it leaves the table only in the
transaction that queues a job covering it (`take`, called by scanner/jobs/changes.py), and comes
back in the transaction that ends such a job unfinished (`give_back`, called by the lifecycle).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models.functions import Now

from scanner.jobs.events import record_event
from scanner.models import PendingChange, ScanJob

RETRY_AFTER = 300  # seconds before changes given back by a failed or cancelled scan are scanned again
IDS_PER_STATEMENT = 1000
BATCH = 500  # rows per insert


def note(library_id: int, rel_paths: list[str], *, trigger: str) -> None:
    """Changed places of one library; one already waiting is not noted twice."""
    PendingChange.objects.bulk_create([PendingChange(library_id=library_id, path=rel, trigger=trigger)
                                       for rel in rel_paths], batch_size=BATCH, ignore_conflicts=True)


def waiting_libraries(library_ids: set[int] | None = None) -> set[int]:
    """Libraries with pending changes (of `library_ids` only, when given)."""
    pending = PendingChange.objects.all()
    if library_ids is not None:
        pending = pending.filter(library_id__in=library_ids)
    return set(pending.values_list("library_id", flat=True))


def cooling_down() -> set[int]:
    """Libraries whose scan of changes just failed or was cancelled and gave them back: not
    scanned again at once (a share still away would fail it in a loop; a user's cancel would be
    undone)."""
    return set(ScanJob.objects.filter(
        trigger__in=[ScanJob.Trigger.WATCH, ScanJob.Trigger.NOTIFY],
        status__in=[ScanJob.Status.FAILED, ScanJob.Status.CANCELLED],
        completed_at__gt=Now() - timedelta(seconds=RETRY_AFTER)).values_list("library_id", flat=True))


def read(library_id: int, limit: int) -> list[tuple[int, str, str]]:
    """(id, path, trigger) of the library's oldest pending changes, at most `limit`."""
    return list(PendingChange.objects.filter(library_id=library_id).order_by("id")
                .values_list("id", "path", "trigger")[:limit])


def take(ids: list[int]) -> None:
    """Delete exactly the rows read, inside the transaction that queued the job covering them:
    one noted meanwhile, even with a smaller id, stays pending."""
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        PendingChange.objects.filter(pk__in=ids[start:start + IDS_PER_STATEMENT]).delete()


def give_back(job: ScanJob, *, worker: str) -> None:
    """A scan of notified or watched changes that failed or was cancelled: its paths are pending
    changes again (the 202 promised they would be scanned), scanned after RETRY_AFTER."""
    if job.trigger not in (ScanJob.Trigger.WATCH, ScanJob.Trigger.NOTIFY) or job.library_id is None:
        return
    trigger = PendingChange.Trigger.NOTIFY if job.trigger == ScanJob.Trigger.NOTIFY else PendingChange.Trigger.WATCH
    note(job.library_id, job.scope or [""], trigger=trigger)
    record_event(job.pk, "changes_kept", f"Its {len(job.scope or [''])} changed paths wait as pending changes and "
                 f"are scanned again in {RETRY_AFTER // 60} minutes", worker=worker, library_id=job.library_id,
                 level=logging.INFO)
