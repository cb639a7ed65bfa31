"""Library-based scan control: the one place the API, the admin and the commands change scans.

Every function takes a library id (never a job id: DESIGN.md failure 2) and changes the job
with a compare-and-set on its status, so two requests racing on one library cannot both win.
Control crosses processes through the database; when the scan runs in this process, its
thread is also told at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now

from libraries.models import Library
from scanner import jobstore, selectors
from scanner.events import record_event
from scanner.models import ScanJob
from scanner.runtime import current_runtime

Status = ScanJob.Status
CAS_ATTEMPTS = 5  # re-reads when the job changed between our read and our write


class ScanControlError(Exception):
    """A control request that cannot be carried out; `job` is the job it ran into, if any."""

    def __init__(self, message: str, job: ScanJob | None = None):
        super().__init__(message)
        self.job = job


class LibraryNotFound(ScanControlError):
    pass


class NoOpenScan(ScanControlError):
    pass


class ScanAlreadyRunning(ScanControlError):
    pass


@dataclass(frozen=True)
class ScanAction:
    job: ScanJob
    created: bool  # a new job (HTTP 201) rather than an existing one (200)


def start_scan(*, library_id: int, mode: str = ScanJob.Mode.QUICK, trigger: str = ScanJob.Trigger.MANUAL) -> ScanAction:
    """Queue a new scan; a paused one is resumed instead; a queued or running one is a conflict."""
    _library(library_id)
    for _ in range(CAS_ATTEMPTS):
        job = selectors.open_job_of_library(library_id)
        if job is None:
            try:
                with transaction.atomic():
                    job = ScanJob.objects.create(
                        library_id=library_id, mode=mode, trigger=trigger, status_message="Queued"
                    )
                    record_event(job.pk, "queued", f"{mode.capitalize()} scan queued ({trigger})", library_id=library_id)
                    transaction.on_commit(_wake_local)
                return ScanAction(job, created=True)
            except IntegrityError:
                continue  # somebody queued one first: look again
        if job.status == Status.PAUSED:
            resumed = _resume(job)
            if resumed:
                return ScanAction(resumed, created=False)
            continue
        raise ScanAlreadyRunning(f"A scan of this library is already {job.status}", job)
    raise _still_changing(library_id)


def resume_scan_by_library(*, library_id: int) -> ScanAction:
    """Resume the paused scan; if one is queued or running, return it; if none is open, start one."""
    _library(library_id)
    for _ in range(CAS_ATTEMPTS):
        job = selectors.open_job_of_library(library_id)
        if job is None:
            try:
                return start_scan(library_id=library_id)
            except ScanAlreadyRunning:
                continue  # somebody started one meanwhile: answer with it
        if job.status != Status.PAUSED:
            return ScanAction(job, created=False)
        resumed = _resume(job)
        if resumed:
            return ScanAction(resumed, created=False)
    raise _still_changing(library_id)


def pause_scan_by_library(*, library_id: int) -> ScanJob:
    """Pause the library's queued or running scan; pausing a paused scan changes nothing."""
    _library(library_id)
    for _ in range(CAS_ATTEMPTS):
        job = _open_job_or_409(library_id, "pause")
        if job.status == Status.PAUSED and job.pause_reason == ScanJob.PauseReason.USER:
            return job
        # From queued or running; or paused by a restart and about to resume by itself: the
        # user's pause wins, and is never undone automatically.
        message = f"Paused by user after {job.files_processed:,} of {job.files_found:,} files"
        paused = _transition(job, "paused", message, status=Status.PAUSED, pause_reason=ScanJob.PauseReason.USER,
                             paused_at=Now(), **jobstore.released_fields())
        if paused:
            _stop_local(job.pk)
            return paused
    raise _still_changing(library_id)


def cancel_scan_by_library(*, library_id: int) -> ScanJob:
    """Cancel the library's open scan. Its catalogue keeps what was committed; nothing is marked missing."""
    _library(library_id)
    for _ in range(CAS_ATTEMPTS):
        job = _open_job_or_409(library_id, "cancel")
        message = f"Cancelled by user after {job.files_processed:,} of {job.files_found:,} files"
        cancelled = _transition(job, "cancelled", message, **jobstore.finished_fields(Status.CANCELLED))
        if cancelled:
            _stop_local(job.pk)
            return cancelled
    raise _still_changing(library_id)


def get_library_scan_status(*, library_id: int) -> ScanJob | None:
    """The library's open scan, else its latest, else None."""
    _library(library_id)
    return selectors.library_scan_status(library_id)


def _resume(job: ScanJob) -> ScanJob | None:
    message = f"Resuming after {job.files_processed:,} files" if job.files_processed else "Queued"
    resumed = _transition(job, "resume_requested", message, status=Status.PENDING, pause_reason=None,
                          resumed_at=Now(), resume_count=F("resume_count") + 1, updated_at=Now())
    if resumed:
        transaction.on_commit(_wake_local)  # at once, or when an enclosing transaction commits
    return resumed


def _transition(job: ScanJob, event: str, message: str, **changes) -> ScanJob | None:
    """Compare-and-set the job from the status we read it in, with its event; None if it
    changed meanwhile (the caller reads it again)."""
    with transaction.atomic():
        if not ScanJob.objects.filter(pk=job.pk, status=job.status).update(status_message=message, **changes):
            return None
        record_event(job.pk, event, message, library_id=job.library_id, worker=_local_worker())
    return _fresh(job)


def _still_changing(library_id: int) -> ScanAlreadyRunning:
    return ScanAlreadyRunning("The library's scan is changing state; try again",
                              selectors.open_job_of_library(library_id))


def _library(library_id: int) -> Library:
    try:
        return Library.objects.get(pk=library_id)
    except Library.DoesNotExist:
        raise LibraryNotFound(f"No library with id {library_id}") from None


def _open_job_or_409(library_id: int, action: str) -> ScanJob:
    job = selectors.open_job_of_library(library_id)
    if job is None:
        raise NoOpenScan(f"Nothing to {action}: the library has no queued, running or paused scan")
    return job


def _fresh(job: ScanJob) -> ScanJob:
    job.refresh_from_db()
    return job


def _stop_local(job_id: int) -> None:
    runtime = current_runtime()
    if runtime is not None:
        runtime.stop_local(job_id)


def _wake_local() -> None:
    runtime = current_runtime()
    if runtime is not None:
        runtime.wake()


def _local_worker() -> str:
    runtime = current_runtime()
    return runtime.worker_label if runtime else ""
