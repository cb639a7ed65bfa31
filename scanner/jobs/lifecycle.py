"""Every status change of a ScanJob; nothing else writes `status` (DESIGN.md 5).

Each function is one transition: a single UPDATE whose WHERE holds every fact the caller's
decision relied on (the status, pause reason, lease token and counts it read; for an orphan,
that its owner is still dead), plus its ScanEvent, in one transaction. It returns the job as
it now is, or None when the job changed first (lost the race): the caller reads again, or lets
it be. Callers decide whether to act; this module decides how, and is the one place to read
to know what a job can go through (each change is announced, once committed, by scanner.signals):

    queue -> pending -claim-> running -> completed | failed
    running -> paused (by a user, a shutdown, an outage, or found orphaned)
    paused -> pending (resumed by a user, or automatically)
    any open status -> cancelled (by a user, or superseded) | failed (its library is gone)
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Now

from libraries.models import Library
from scanner.core import procinfo, words
from scanner.jobs import pending, workers
from scanner.jobs.leases import Lease, WorkerGone
from scanner.jobs.resume_policy import Verdict
from scanner.jobs.transitions import Condition, announce, as_held, as_seen, finished, move, released, with_note
from scanner.models import ScanJob, Worker

Status = ScanJob.Status
Reason = ScanJob.PauseReason


# ---------------------------------------------------------------- queue and claim
def queue(*, library_id: int, mode: str, trigger: str, message: str, scope: list[str] | None = None,
          from_changes: bool = False, change_failures: int = 0) -> ScanJob | None:
    """A new pending job (of `scope` only, when given; `from_changes`: a scope taken from pending
    changes, owed back if the job ends unfinished); None if the library has an open job already
    or no longer exists."""
    try:
        with transaction.atomic():
            # The library's row first: a change of its path holds it (libraries/services.py), so a
            # job is never queued for the old folder while the path changes under it.
            if not Library.objects.select_for_update(no_key=True).filter(pk=library_id).values_list("pk"):
                return None
            job = ScanJob.objects.create(library_id=library_id, mode=mode, trigger=trigger, scope=scope or [],
                                         from_changes=from_changes, change_failures=change_failures,
                                         status_message="Queued")
            announce(job, "queued", message, frm="", worker=procinfo.process_label())
    except IntegrityError:  # the one-open-job constraint
        return None
    return job


def claim(job_id: int, worker: Worker) -> Lease | None:
    """Take a pending job for `worker` under its live worker row; None if somebody was first. A
    claim is a heartbeat too: a process back from a long silence is not judged dead with its job."""
    with transaction.atomic():
        if not workers.beat(worker.pk):
            raise WorkerGone(worker.label)  # never take a job under an owner others think dead
        job = move(
            job_id, Q(status=Status.PENDING, library__isnull=False), frm=Status.PENDING, to=Status.RUNNING,
            event="claimed", message=f"Starting on {worker.label}", worker=worker.label, owner=worker.pk,
            worker_name=worker.label, lease_token=F("lease_token") + 1, heartbeat_at=Now(),
            started_at=Coalesce(F("started_at"), Now()), files_per_second=0,
        )
    if job is None:
        return None
    assert job.library_id is not None  # the claim's WHERE requires a library
    return Lease(job_id=job.pk, library_id=job.library_id, lease_token=job.lease_token)


def claim_next(worker: Worker, *, skip_library_ids: set[int] | frozenset[int] = frozenset()) -> Lease | None:
    """Claim the oldest pending job, skipping libraries this process is still winding down."""
    with transaction.atomic():
        # FOR UPDATE SKIP LOCKED on PostgreSQL: concurrent claimers each take a different row
        # instead of queueing on one. SQLite ignores it; there BEGIN IMMEDIATE serialises
        # claimers, and the guarded UPDATE of `claim` decides either way.
        candidates = (
            ScanJob.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, library__isnull=False)
            .exclude(library_id__in=skip_library_ids)
            .order_by("created_at", "id")
            .values_list("pk", flat=True)[:1]
        )
        job_id = next(iter(candidates), None)
        return claim(job_id, worker) if job_id is not None else None


# ---------------------------------------------------------------- pausing
def pause_by_user(seen: ScanJob) -> ScanJob | None:
    """Pause a queued, running or automatically resumable job; it resumes only by a person."""
    return move(
        seen.pk, as_seen(seen), frm=seen.status, to=Status.PAUSED, event="paused",
        message=f"Paused by user after {seen.files_processed:,} of {words.count(seen.files_found, 'file')}",
        pause_reason=Reason.USER, paused_at=Now(), resumes_automatically=False, **released(),
    )


def pause_for_shutdown(lease: Lease) -> ScanJob | None:
    return move(
        lease.job_id, as_held(lease), frm=Status.RUNNING, to=Status.PAUSED, event="shutdown_paused",
        message="Paused by a server shutdown; resumes when a server starts",
        pause_reason=Reason.SHUTDOWN, paused_at=Now(), resumes_automatically=True, **released(),
    )


def pause_interrupted(lease: Lease, *, cause: str, files_processed: int, attempts: int,
                      verdict: Verdict) -> ScanJob | None:
    """The scan's own process lived but could not go on (`cause`: the database went away, its
    thread could not start): paused, to resume when it can."""
    message = with_note(f"Interrupted by {cause} after {words.count(files_processed, 'file')}", verdict)
    return move(
        lease.job_id, as_held(lease) & Q(auto_resume_attempts=attempts), frm=Status.RUNNING, to=Status.PAUSED,
        event="interrupted", message=message, level=logging.WARNING, gave_up=verdict.gave_up,
        pause_reason=Reason.INTERRUPTED, paused_at=Now(), resumes_automatically=verdict.resumable, **released(),
    )


def pause_orphaned(seen: ScanJob, *, why: str, still_dead: Condition, verdict: Verdict,
                   note: str = "") -> ScanJob | None:
    """A running job whose owner cannot be running it. `still_dead` must hold the owner's death
    at the moment of this write, never a list of live workers read earlier."""
    message = with_note(
        f"Interrupted ({why}) after {seen.files_processed:,} of {words.count(seen.files_found, 'file')}", verdict)
    return move(
        seen.pk, as_seen(seen) & Q(owner=seen.owner, auto_resume_attempts=seen.auto_resume_attempts) & still_dead,
        frm=seen.status, to=Status.PAUSED, event="orphaned", message=message + note, level=logging.WARNING,
        gave_up=verdict.gave_up,
        pause_reason=Reason.INTERRUPTED, paused_at=Now(), resumes_automatically=verdict.resumable, **released(),
    )


# ---------------------------------------------------------------- resuming
def resume_by_user(seen: ScanJob) -> ScanJob | None:
    """Queue a paused job again from its checkpoint; a person's resume resets the attempt count."""
    message = f"Resuming after {words.count(seen.files_processed, 'file')}" if seen.files_processed else "Queued"
    return move(
        seen.pk, as_seen(seen), frm=seen.status, to=Status.PENDING, event="resume_requested", message=message,
        pause_reason=None, resumes_automatically=False, auto_resume_attempts=0, resumed_at=Now(),
        resume_count=F("resume_count") + 1,
    )


def auto_resume(seen: ScanJob, *, delay: float) -> ScanJob | None:
    """Queue a job marked resumable when it was paused, once `delay` seconds (by the database's
    clock) have passed since; interruptions count as attempts, shutdowns do not."""
    interrupted = seen.pause_reason == Reason.INTERRUPTED
    how = "Interrupted" if interrupted else "Paused by a server shutdown"
    message = f"{how} after {seen.files_processed:,} of {words.count(seen.files_found, 'file')}; resumed automatically"
    if seen.auto_resume_attempts:
        message += f" (attempt {seen.auto_resume_attempts + 1} without progress)"
    return move(
        seen.pk, as_seen(seen) & Q(resumes_automatically=True, auto_resume_attempts=seen.auto_resume_attempts,
                                    paused_at__lte=Now() - timedelta(seconds=delay)),
        frm=Status.PAUSED, to=Status.PENDING, event="auto_resumed", message=message,
        pause_reason=None, resumes_automatically=False, resumed_at=Now(),
        resume_count=F("resume_count") + 1, auto_resume_attempts=F("auto_resume_attempts") + int(interrupted),
    )


# ---------------------------------------------------------------- ending
def complete_held(lease: Lease, *, message: str, **fields) -> ScanJob | None:
    """The final batch's write (inside its transaction): counters, 100 %, completed. The scan
    has read every change noted in its scope before it was queued."""
    job = move(lease.job_id, as_held(lease), frm=Status.RUNNING, to=Status.COMPLETED, event="completed",
                message=message, **{**finished(), "progress": 100, **fields})  # the last run's rate stays on record
    if job is not None:
        pending.release_read(job)
    return job


def fail_held(lease: Lease, *, error: str, message: str, unavailable: bool = False) -> ScanJob | None:
    """The scan cannot go on; `unavailable`: its library folder is not there (an unmounted share),
    which is no failure of the changes it was scanning: they wait for the folder to come back."""
    return move(lease.job_id, as_held(lease), frm=Status.RUNNING, to=Status.FAILED, event="failed", message=message,
                 level=logging.ERROR, owed="unavailable" if unavailable else "failed", error_message=error,
                 **finished())


def cancel_by_user(seen: ScanJob) -> ScanJob | None:
    """End an open job; its catalogue keeps what was committed and nothing is marked missing."""
    return move(seen.pk, as_seen(seen), frm=seen.status, to=Status.CANCELLED, event="cancelled",
                 message=f"Cancelled by user after {seen.files_processed:,} of {words.count(seen.files_found, 'file')}",
                 owed="cancelled", **finished())


def supersede(seen: ScanJob, *, keeper_id: int) -> ScanJob | None:
    """A duplicate open job of a library (possible only in data from before the constraint)."""
    return move(seen.pk, as_seen(seen, counts=False), frm=seen.status, to=Status.CANCELLED, event="superseded",
                 message=f"Superseded by job {keeper_id}", owed="cancelled", **finished())


def fail_library_gone(seen: ScanJob, *, message: str) -> ScanJob | None:
    return move(seen.pk, as_seen(seen, counts=False), frm=seen.status, to=Status.FAILED, event="library_gone",
                 message=message, level=logging.WARNING, error_message=message, **finished())
