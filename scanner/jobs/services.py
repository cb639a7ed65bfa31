"""Library-based scan control: the one place the API, the admin and the commands change scans.

Every function takes a library id (never a job id: DESIGN.md failure 2), reads the library's
open job, decides, and asks the lifecycle to make the change, which succeeds only if the job
is still as it was read. When it is not (another request, a batch commit or a recovery pass
came first), the function reads again. Threads in this process learn of a change through
scanner.signals once it is committed; this module never imports the engine or the runtime.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from libraries.models import Library
from scanner.core.scope import MAX_PATHS, Scope, ScopeError, collapse, describe_scope, relative
from scanner.jobs import changes, lifecycle, selectors
from scanner.models import PendingChange, ScanJob

Status = ScanJob.Status
CAS_ATTEMPTS = 8  # reads when the job keeps changing between our read and our write


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


class InvalidScope(ScanControlError):
    """A targeted scan's paths that cannot be scanned; the message names the first problem."""


@dataclass(frozen=True)
class ScanAction:
    job: ScanJob
    created: bool  # a new job (HTTP 201) rather than an existing one (200)


def scan_start(*, library_id: int, mode: str = ScanJob.Mode.QUICK, trigger: str = ScanJob.Trigger.MANUAL,
               paths: list[str] | None = None) -> ScanAction:
    """Queue a new scan (of `paths` only, relative to the library or absolute inside it, when
    given: a targeted scan); a paused one is resumed instead; a queued or running one is a conflict."""
    scope = _targeted_scope(_library(library_id), paths) if paths is not None else []
    what = f"{mode.capitalize()} scan" + (f" of {describe_scope(scope)}" if scope else "")
    for _ in range(CAS_ATTEMPTS):
        job = _open_job(library_id)
        if job is None:
            queued = lifecycle.queue(library_id=library_id, mode=mode, trigger=trigger, scope=scope,
                                     message=f"{what} queued ({trigger})")
            if queued is not None:
                return ScanAction(queued, created=True)
            continue  # somebody queued one first, or the library was deleted: look again
        if job.status != Status.PAUSED:
            raise ScanAlreadyRunning(f"A scan of this library is already {job.status}", job)
        resumed = lifecycle.resume_by_user(job)
        if resumed is not None:
            # The paused scan goes on as it was; the paths asked for that it will not walk (outside
            # its scope, or before its checkpoint) wait for its end as pending changes.
            left = [path for path in scope or [""] if not _will_walk(resumed, path)] if paths is not None else []
            if left:
                changes.note_library_changes(library_id, left, trigger=PendingChange.Trigger.NOTIFY)
            return ScanAction(resumed, created=False)
    raise _still_changing(library_id)


def _will_walk(job: ScanJob, path: str) -> bool:
    """Whether the job, from its checkpoint on, walks everything at and under `path` ('' is the
    whole library): its scope holds it, and its checkpoint has not reached it (a checkpoint
    sorts before everything a walk still yields)."""
    inside = not job.scope or Scope(job.scope).holds(path) if path else not job.scope
    return inside and (not job.checkpoint or (bool(path) and job.checkpoint < path))


def scan_resume(*, library_id: int) -> ScanAction:
    """Resume the paused scan; if one is queued or running, return it; if none is open, start one."""
    for _ in range(CAS_ATTEMPTS):
        job = _open_job(library_id)
        if job is None:
            try:
                return scan_start(library_id=library_id)
            except ScanAlreadyRunning:
                continue  # somebody started one meanwhile: answer with it
        if job.status != Status.PAUSED:
            return ScanAction(job, created=False)
        resumed = lifecycle.resume_by_user(job)
        if resumed is not None:
            return ScanAction(resumed, created=False)
    raise _still_changing(library_id)


def scan_pause(*, library_id: int) -> ScanJob:
    """Pause the library's queued or running scan; pausing a paused scan changes nothing,
    except that a scan paused by a restart then waits for a person: the user's pause wins."""
    return _change_open_job(
        library_id, "pause", lifecycle.pause_by_user,
        done=lambda job: job.status == Status.PAUSED and job.pause_reason == ScanJob.PauseReason.USER,
    )


def scan_cancel(*, library_id: int) -> ScanJob:
    """Cancel the library's open scan. Its catalogue keeps what was committed; nothing is marked missing."""
    return _change_open_job(library_id, "cancel", lifecycle.cancel_by_user, done=lambda job: False)


def scan_status(*, library_id: int) -> ScanJob | None:
    """The library's open scan, else its latest, else None."""
    _library(library_id)
    return selectors.library_scan_status(library_id)


def scan_end_for_deleted_library(*, library: Library) -> None:
    """Called by the library's deletion, in its transaction: the open scan ends failed (and its
    thread, wherever it runs, stops at its next commit or at once in this process)."""
    assert transaction.get_connection().in_atomic_block, "call inside the deletion's transaction"
    # The job's row first, then the library's: a batch commit takes them in that order too (its
    # new catalogue rows lock the library row at commit), so the two never deadlock. Holding
    # the library row then makes a new job's insert wait for the delete, and fail (404).
    list(ScanJob.objects.select_for_update().filter(library=library, status__in=ScanJob.OPEN_STATUSES))
    Library.objects.select_for_update().filter(pk=library.pk).first()
    for _ in range(CAS_ATTEMPTS):
        job = selectors.open_job_of_library(library.pk)
        if job is None or lifecycle.fail_library_gone(job, message=f"The library '{library.name}' was deleted"):
            return
    raise _still_changing(library.pk)


def _targeted_scope(library: Library, paths: list[str]) -> list[str]:
    """The scope of a targeted scan of these paths (DESIGN.md 8); [] if one is the root."""
    if not paths:
        raise InvalidScope("Give at least one path, or no `paths` to scan the whole library.")
    if len(paths) > MAX_PATHS:
        raise InvalidScope(f"At most {MAX_PATHS:,} paths per scan ({len(paths):,} given); scan a common folder.")
    try:
        scope = collapse([relative(path, library.path) for path in paths])
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from None
    # A path that is not there and never was would scan nothing and say it succeeded (a typo, or
    # Swagger's "string"); one deleted since its rows were catalogued is a scan that marks them missing.
    unknown = [path for path in scope if not os.path.lexists(os.path.join(library.path, path))
               and not selectors.catalogued_under(library.pk, path)]
    if unknown:
        raise InvalidScope(f"Not in the library, on disk or in its catalogue: {describe_scope(unknown)}")
    return scope


def _change_open_job(library_id: int, action: str, change: Callable[[ScanJob], ScanJob | None], *,
                     done: Callable[[ScanJob], bool]) -> ScanJob:
    for _ in range(CAS_ATTEMPTS):
        job = _open_job(library_id)
        if job is None:
            raise NoOpenScan(f"Nothing to {action}: the library has no queued, running or paused scan")
        if done(job):
            return job
        changed = change(job)
        if changed is not None:
            return changed
    raise _still_changing(library_id)


def _open_job(library_id: int) -> ScanJob | None:
    """The library's open job, read afresh; LibraryNotFound once the library is gone."""
    _library(library_id)
    return selectors.open_job_of_library(library_id)


def _still_changing(library_id: int) -> ScanAlreadyRunning:
    return ScanAlreadyRunning("The library's scan is changing state; try again",
                              selectors.open_job_of_library(library_id))


def _library(library_id: int) -> Library:
    try:
        return Library.objects.get(pk=library_id)
    except Library.DoesNotExist:
        raise LibraryNotFound(f"No library with id {library_id}") from None
