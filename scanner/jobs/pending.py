"""Pending changes: every write to PendingChange rows (DESIGN.md 8, "A change is owed until a scan
has read it").

A change is written before anyone is told it was taken. It leaves the table in the transaction
that queues a job covering it (`take`), and that job owes it (ScanJob.from_changes) until it
completes; if the job ends unfinished, the change comes back in the transaction that ends it
(`give_back`), to be scanned again after a delay. Scans of the same changes that keep failing
stop after SCANNER_CHANGES_MAX_ATTEMPTS in a row: the changes then wait for a person (a new
notice of the place, the admin's "retry", or a completed scan of the whole library). A whole
library scan that completes has read every change noted before it was queued (`release_read`),
except those in folders it could not read (`keep_unread`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Now

from scanner.conf import scanner_config
from scanner.core import words
from scanner.jobs.events import record_event
from scanner.models import PendingChange, ScanJob

MAX_PER_LIBRARY = 1000  # pending changes of one library; more become one change of the whole library
RETRY_AFTER = timedelta(minutes=5)  # before changes given back by a failed or cancelled scan are scanned again
UNAVAILABLE_RECHECK = timedelta(minutes=1)  # between looks at a library folder that is not there
IDS_PER_STATEMENT = 1000
BATCH = 500  # rows per insert


class Change(NamedTuple):
    id: int
    path: str
    trigger: str
    failures: int


def note(library_id: int, rel_paths: list[str], *, trigger: str) -> None:
    """Changed places of one library. A place already waiting is noted again: dated now, with
    its delay and failures cleared (a new change is a new try). A place is noted even when the
    whole library is owed: a scan of it may not read every folder (pending.keep_unread)."""
    with transaction.atomic():
        if len(rel_paths) > MAX_PER_LIBRARY:
            rel_paths = [""]
        _upsert(library_id, rel_paths, trigger)
        _bound(library_id, trigger)


def _upsert(library_id: int, rel_paths: list[str], trigger: str) -> None:
    PendingChange.objects.bulk_create(
        [PendingChange(library_id=library_id, path=rel, trigger=trigger) for rel in rel_paths], batch_size=BATCH,
        update_conflicts=True, unique_fields=["library", "path"],
        update_fields=["trigger", "created_at", "failures", "wait", "reason"])


def _bound(library_id: int, trigger: str) -> None:
    """Past MAX_PER_LIBRARY places, a library's changes are one change of the whole library:
    what they would become anyway (a scan of more than 1,000 places walks it all), in one row,
    so that nobody can fill the table, or the answers that count it."""
    rows = PendingChange.objects.filter(library_id=library_id)
    if rows.count() > MAX_PER_LIBRARY:
        rows.exclude(path="").delete()
        _upsert(library_id, [""], trigger)


def due() -> QuerySet[PendingChange]:
    """Changes a scan may take now: their wait is over, and they have not failed too often."""
    ready = ExpressionWrapper(F("created_at") + F("wait"), output_field=DateTimeField())
    return PendingChange.objects.alias(ready=ready).filter(
        ready__lte=Now(), failures__lt=scanner_config().changes_max_attempts)


def due_libraries(library_ids: set[int] | None = None) -> set[int]:
    """Libraries with changes due (of `library_ids` only, when given)."""
    rows = due()
    if library_ids is not None:
        rows = rows.filter(library_id__in=library_ids)
    return set(rows.values_list("library_id", flat=True).distinct())


def read_due(library_id: int, limit: int) -> list[Change]:
    """The library's oldest due changes, at most `limit`."""
    return [Change(*row) for row in due().filter(library_id=library_id).order_by("id")
            .values_list("id", "path", "trigger", "failures")[:limit]]


def take(ids: list[int]) -> None:
    """Delete exactly the rows read, inside the transaction that queued the job covering them:
    one noted meanwhile, even with a smaller id, stays pending."""
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        PendingChange.objects.filter(pk__in=ids[start:start + IDS_PER_STATEMENT]).delete()


def postpone(ids: list[int], *, reason: str) -> None:
    """The library folder is not there (an unmounted share): an outage, not a failure. The
    changes wait for it, looked at again after UNAVAILABLE_RECHECK."""
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        PendingChange.objects.filter(pk__in=ids[start:start + IDS_PER_STATEMENT]).update(
            created_at=Now(), wait=UNAVAILABLE_RECHECK, reason=reason)


def give_back(job: ScanJob, *, why: str, worker: str) -> None:
    """A job that owed its scope ended unfinished (`why`: failed, cancelled, unavailable): its
    paths are pending changes again, in the transaction that ended it. A failure counts towards
    SCANNER_CHANGES_MAX_ATTEMPTS; a cancel or an absent folder does not. A place noted again
    while the job ran is newer: it stays as it is."""
    if job.library_id is None:
        return
    failures = job.change_failures + (why == "failed")
    wait = UNAVAILABLE_RECHECK if why == "unavailable" else RETRY_AFTER
    reason = {"failed": f"its scan failed: {job.error_message}", "cancelled": "its scan was cancelled",
              "unavailable": job.error_message}[why]
    paths = job.scope or [""]
    _put_back(job, {path: reason for path in paths}, failures=failures, wait=wait)
    if not job.scope:  # the places a scan of the whole library left noted wait with it (changes._queue_one)
        PendingChange.objects.filter(library_id=job.library_id, created_at__lt=job.created_at).exclude(stuck()).update(
            created_at=Now(), wait=wait, reason=reason[:2000], failures=F("failures") + (why == "failed"))
    _tell(job, len(paths), failures=failures, wait=wait, reason=reason, worker=worker)


def keep_unread(job: ScanJob, folders: list[tuple[str, str]], *, worker: str) -> None:
    """Folders ("A/B/", why) a scan could not read, in the transaction of the batch that met them:
    the changes it owed in them were not read. A scan of the whole library keeps pending those
    noted before it (release_read would take them as read), dated now; a scan of changes gives
    back the places of its scope in them. Either way as one failed scan of them, so that a folder
    that stays unreadable ends waiting for a person. A change of a place that holds such a folder
    (the whole library, say) counts as read: the rest of it was, and the folder has its event."""
    assert job.library_id is not None, "a running job has its library"

    def unread(path: str) -> str | None:
        return next((f"its folder {folder} could not be read: {why}" for folder, why in folders
                     if (path + "/").startswith(folder)), None)

    if job.scope:
        if not job.from_changes:
            return  # a person's targeted scan owes nothing; the folder's event tells them
        kept = {path: why for path in job.scope if (why := unread(path))}
        failures = job.change_failures + 1
        _put_back(job, kept, failures=failures, wait=RETRY_AFTER)
    else:
        noted = PendingChange.objects.filter(library_id=job.library_id, created_at__lt=job.created_at)
        kept = {path: why for path in noted.values_list("path", flat=True) if (why := unread(path))}
        failures = 1 + max(noted.filter(path__in=kept).values_list("failures", flat=True), default=0)
        by_reason = defaultdict(list)
        for path, why in kept.items():
            by_reason[why].append(path)
        for why, paths in by_reason.items():  # `noted`: still dated before the job, not noted again meanwhile
            noted.filter(path__in=paths).update(failures=F("failures") + 1, created_at=Now(), wait=RETRY_AFTER,
                                                reason=why[:2000])
    if kept:
        _tell(job, len(kept), failures=failures, wait=RETRY_AFTER, reason=next(iter(kept.values())), worker=worker)


def _put_back(job: ScanJob, reasons: dict[str, str], *, failures: int, wait: timedelta) -> None:
    """Places of the job's scope pending again; a place noted again while the job ran is newer:
    it stays as it is."""
    assert job.library_id is not None
    trigger = job.trigger if job.trigger in PendingChange.Trigger.values else PendingChange.Trigger.NOTIFY
    PendingChange.objects.bulk_create([
        PendingChange(library_id=job.library_id, path=path, trigger=trigger, failures=failures, wait=wait,
                      reason=reason[:2000]) for path, reason in reasons.items()], batch_size=BATCH,
        ignore_conflicts=True)
    _bound(job.library_id, trigger)


def _tell(job: ScanJob, count: int, *, failures: int, wait: timedelta, reason: str, worker: str) -> None:
    if failures >= scanner_config().changes_max_attempts:
        record_event(job.pk, "changes_gave_up", f"{words.count(count, 'changed path')} failed "
                     f"{words.count(failures, 'scan')} in a row, "
                     f"now waiting for a person ({reason}); notify again, or retry in the admin",
                     worker=worker, library_id=job.library_id, level=logging.WARNING)
    else:
        record_event(job.pk, "changes_kept", f"{words.count(count, 'changed path')} kept as pending changes, "
                     f"scanned again in {words.count(int(wait.total_seconds() // 60), 'minute')} ({reason})",
                     worker=worker, library_id=job.library_id)


def retry(rows: QuerySet[PendingChange]) -> int:
    """A person's retry of changes that stopped after repeated failures: due again now."""
    return rows.update(failures=0, wait=timedelta(0), created_at=Now(), reason="")


def release_read(job: ScanJob) -> int:
    """A scan of the whole library completed (call in its completing transaction): it walked
    every place after it was queued, so changes noted before that have been read."""
    assert job.library_id is not None, "a completed job has its library"
    return PendingChange.objects.filter(library_id=job.library_id, created_at__lt=job.created_at).delete()[0]


def waiting_for_a_person(library_id: int) -> QuerySet[PendingChange]:
    return PendingChange.objects.filter(library_id=library_id, failures__gte=scanner_config().changes_max_attempts)


def stuck() -> Q:
    """Changes that stopped after repeated failures (for counting beside others)."""
    return Q(failures__gte=scanner_config().changes_max_attempts)
