"""Pending changes: every write to PendingChange rows (DESIGN.md 8, "A change is owed until a scan
has read it").

A change is written before anyone is told it was taken. It leaves the table in the transaction
that queues a job covering it (`take`), and that job owes it (ScanJob.from_changes) until it
completes; if the job ends unfinished, the change comes back in the transaction that ends it
(`give_back`), to be scanned again after a delay. Scans of the same changes that keep failing
stop after SCANNER_CHANGES_MAX_ATTEMPTS in a row: the changes then wait for a person (a new
notice of the place, the admin's "retry", or a completed scan of the whole library). A whole
scan that completes has read every change noted in its scope before it was queued
(`release_read`), except those in folders it could not read (`keep_unread`).
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
    paths are pending changes again, in the transaction that ended it, and the places noted
    beside it wait as long. A failure counts towards SCANNER_CHANGES_MAX_ATTEMPTS; a cancel or an
    absent folder does not. A place noted again while the job ran is newer: it stays as it is."""
    if job.library_id is None:
        return
    failures = job.change_failures + (why == "failed")
    wait = UNAVAILABLE_RECHECK if why == "unavailable" else RETRY_AFTER
    reason = {"failed": f"its scan failed: {job.error_message}", "cancelled": "its scan was cancelled",
              "unavailable": job.error_message}[why]
    paths = job.scope or [""]
    _put_back(job, {path: reason for path in paths}, failures=failures, wait=wait)
    _by_id(job, [row_id for row_id, _ in _beside(job)]).exclude(stuck()).update(
        created_at=Now(), wait=wait, reason=reason[:2000], failures=F("failures") + int(why == "failed"))
    _tell(job, len(paths), failures=failures, wait=wait, reason=reason, worker=worker)


def keep_unread(job: ScanJob, folders: list[tuple[str, str]], *, worker: str) -> None:
    """Folders ("A/B/", why) a scan could not read, in the transaction of the batch that met them:
    the changes in them were not read. The places noted beside the job stay pending (release_read
    would take them as read), dated now; a scan of changes gives back the places of its scope in
    them. Either way as one failed scan of them, so that a folder that stays unreadable ends
    waiting for a person. A change of a place that holds such a folder (the whole library, say)
    counts as read: the rest of it was, and the folder has its event."""
    def unread(path: str) -> str | None:
        return next((f"its folder {folder} could not be read: {why}" for folder, why in folders
                     if (path + "/").startswith(folder)), None)

    owed = {path: why for path in job.scope if (why := unread(path))} if job.from_changes else {}
    failures = job.change_failures + 1 if owed else 0
    if owed:
        _put_back(job, owed, failures=failures, wait=RETRY_AFTER)
    beside: dict[str, list[int]] = defaultdict(list)
    for row_id, path in _beside(job):
        if why := unread(path):
            beside[why].append(row_id)
    kept = len(owed)
    for why, ids in beside.items():
        rows = _by_id(job, ids)
        failures = max(failures, 1 + max(rows.values_list("failures", flat=True), default=0))
        kept += rows.update(failures=F("failures") + 1, created_at=Now(), wait=RETRY_AFTER, reason=why[:2000])
    if kept:
        reason = next(iter(owed.values()), None) or next(iter(beside))
        _tell(job, kept, failures=failures, wait=RETRY_AFTER, reason=reason, worker=worker)


def _beside(job: ScanJob) -> list[tuple[int, str]]:
    """(id, path) of the changes noted before the job was queued in places its scope holds: not
    taken by it (changes._queue_one takes only its scope's own places), read by it if it completes.
    Matched here, not with LIKE, which SQLite compares without case."""
    assert job.library_id is not None, "a job that owes has its library"
    rows = PendingChange.objects.filter(library_id=job.library_id, created_at__lt=job.created_at)
    return [(row_id, path) for row_id, path in rows.values_list("id", "path")
            if not job.scope or any(path == place or path.startswith(place + "/") for place in job.scope)]


def _by_id(job: ScanJob, ids: list[int]) -> QuerySet[PendingChange]:
    """Those rows, if still dated before the job: one noted again meanwhile is a newer change.
    At most MAX_PER_LIBRARY ids (one library's rows)."""
    return PendingChange.objects.filter(pk__in=ids, created_at__lt=job.created_at)


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
    """A scan completed (call in its completing transaction): it walked every place of its scope
    after it was queued, so the changes noted there before that have been read."""
    return _by_id(job, [row_id for row_id, _ in _beside(job)]).delete()[0]


def waiting_for_a_person(library_id: int) -> QuerySet[PendingChange]:
    return PendingChange.objects.filter(library_id=library_id, failures__gte=scanner_config().changes_max_attempts)


def stuck() -> Q:
    """Changes that stopped after repeated failures (for counting beside others)."""
    return Q(failures__gte=scanner_config().changes_max_attempts)
