"""Changed paths, from notifications or the watcher, turned into targeted scans (DESIGN.md 8).

A change is stored as a PendingChange row before anyone is told it was taken. Each library's
pending changes become one targeted quick scan once the library has no open job (a paused
one holds them until it is resumed or cancelled): the job is queued and the changes it covers
are deleted in one transaction, so they are either still pending or in a job's scope, whatever
crashes when. Every scanning process tries this at each claim, and the one-open-job constraint
lets exactly one of them queue the scan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.db import transaction

from libraries.models import Library
from libraries.paths import is_within
from scanner.core.scope import MAX_PATHS, ScopeError, collapse, describe_scope, relative
from scanner.jobs import lifecycle, pending
from scanner.jobs.events import log_decision
from scanner.models import PendingChange, ScanJob

MAX_PENDING_READ = 20 * MAX_PATHS  # pending rows of one library read at once; beyond, a whole scan


@dataclass(frozen=True)
class Noted:
    queued: list[dict]  # {"library": id, "path": relative path}
    ignored: list[dict]  # {"path": as given, "reason": why}


def note_changes(paths: list[str]) -> Noted:
    """Store each absolute path as a pending change of the library holding it (committed when
    this returns), then queue the scans they call for."""
    libraries = list(Library.objects.values_list("pk", "path"))
    queued, ignored = [], []
    by_library: dict[int, list[str]] = {}
    for raw in paths:
        library_id, rel, reason = _locate(raw, libraries)
        if library_id is None:
            ignored.append({"path": raw, "reason": reason})
            continue
        queued.append({"library": library_id, "path": rel})
        by_library.setdefault(library_id, []).append(rel)
    with transaction.atomic():
        for library_id, rels in by_library.items():
            pending.note(library_id, rels, trigger=PendingChange.Trigger.NOTIFY)
    for library_id, rels in sorted(by_library.items()):
        log_decision(f"{len(rels)} changed paths noted (notify)", action="changes_noted", library_id=library_id)
    if by_library:
        queue_scans_for_changes(library_ids=set(by_library))
    return Noted(queued, ignored)


def note_library_changes(library_id: int, rel_paths: list[str], *, trigger: str) -> None:
    """The watcher's way in: relative paths of one library, then its scan queued if it can be."""
    pending.note(library_id, rel_paths, trigger=trigger)
    queue_scans_for_changes(library_ids={library_id})


def queue_scans_for_changes(*, library_ids: set[int] | None = None) -> list[ScanJob]:
    """For each library with pending changes and no open job, queue one targeted quick scan
    covering them; the jobs queued."""
    waiting = pending.waiting_libraries(library_ids)
    if not waiting:
        return []  # the common case, at every claim of every process: one query
    busy = set(ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=False)
               .values_list("library_id", flat=True))  # a hint: the queue's constraint decides
    busy |= pending.cooling_down()
    queued = []
    for library_id in sorted(waiting - busy):
        job = _queue_one(library_id)
        if job is not None:
            queued.append(job)
    return queued


def _queue_one(library_id: int) -> ScanJob | None:
    with transaction.atomic():
        rows = pending.read(library_id, MAX_PENDING_READ + 1)
        if not rows:
            return None
        scope = [] if len(rows) > MAX_PENDING_READ else collapse([path for _, path, _ in rows])
        if len(scope) > MAX_PATHS:
            scope = []  # too many places at once: one walk of the whole library costs less
        notify = any(trigger == PendingChange.Trigger.NOTIFY for _, _, trigger in rows)
        trigger = ScanJob.Trigger.NOTIFY if notify else ScanJob.Trigger.WATCH
        what = describe_scope(scope) if scope else "the whole library"
        job = lifecycle.queue(library_id=library_id, mode=ScanJob.Mode.QUICK, trigger=trigger, scope=scope,
                              message=f"Quick scan of {what} queued for {len(rows):,} changed paths ({trigger})")
        if job is None:
            return None  # an open job came first (or the library went): the changes wait for it
        pending.take([pk for pk, _, _ in rows])
    return job


def _locate(raw, libraries: list[tuple[int, str]]) -> tuple[int | None, str, str]:
    """(library id, relative path, '') for a path inside a library, else (None, '', reason)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, "", "not a path"
    if not raw.startswith("/"):
        return None, "", "not an absolute path"
    if "\x00" in raw:
        return None, "", "contains a NUL character"
    candidates = [os.path.normpath(raw)]
    real = os.path.realpath(raw)  # a path through a link to a library (its parts that exist are resolved)
    if real != candidates[0]:
        candidates.append(real)
    for path in candidates:
        for library_id, root in libraries:
            if is_within(path, root):
                try:
                    return library_id, relative(path, root), ""
                except ScopeError as exc:
                    return None, "", str(exc)
    return None, "", "inside no library"
