"""Changed paths, from notifications or the watcher, turned into targeted scans (DESIGN.md 8).

A change is stored as a PendingChange row before anyone is told it was taken. Each library's
pending changes become one targeted quick scan once the library has no open job (a paused
one holds them until it is resumed or cancelled): the job is queued and the changes it covers
are deleted in one transaction, so they are either still pending or in a job's scope, whatever
crashes when. Every scanning process tries this at each claim, and the one-open-job constraint
lets exactly one of them queue the scan.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from libraries.models import Library
from libraries.paths import is_within
from scanner.conf import scanner_config
from scanner.core import words
from scanner.core.entries import why_uncatalogable
from scanner.core.root import LibraryRoot, RootUnavailable
from scanner.core.scope import MAX_PATHS, ScopeError, collapse, describe_scope, relative
from scanner.jobs import lifecycle, pathmap, pending, selectors
from scanner.jobs.events import log_decision
from scanner.models import PendingChange, ScanJob

MAX_PENDING_READ = 20 * MAX_PATHS  # pending rows of one library read at once; beyond, a whole scan
PATH_MAX, NAME_MAX = 4096, 255  # bytes: Linux's limits of a path and of one name in it
INSIDE_NO_LIBRARY = "inside no library"
_unavailable: set[int] = set()  # libraries whose folder this process found missing (said once)


@dataclass(frozen=True)
class Noted:
    queued: list[dict]  # {"library": id, "path": relative path}
    ignored: list[dict]  # {"path": as given, "reason": why}


def note_changes(paths: list[str]) -> Noted:
    """Store each absolute path, after SCANNER_PATH_MAP, as a pending change of the library holding
    it (committed when this returns), then queue the scans they call for."""
    libraries = list(Library.objects.values_list("pk", "path"))
    path_map = scanner_config().path_map
    queued, ignored = [], []
    by_library: dict[int, list[str]] = {}
    guesses = pathmap.GUESSES_PER_CALL
    for raw in paths:
        mapped = pathmap.map_path(raw, path_map)
        library_id, rel, reason = _locate(mapped, libraries)
        if reason == INSIDE_NO_LIBRARY:
            # Guessed from the path as sent: a SCANNER_PATH_MAP pair applies to that, not to its mapping.
            guess = pathmap.guess_mapping(raw, [root for _, root in libraries]) if guesses > 0 else ""
            guesses -= 1
            reason = pathmap.unmapped_reason(raw, mapped, guess)
            pathmap.report_unmapped(raw, mapped, guess)
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
    """For each library with changes due and no open job, queue one targeted quick scan
    covering them; the jobs queued."""
    waiting = pending.due_libraries(library_ids)
    if not waiting:
        return []  # the common case, at every claim of every process: one query
    busy = set(ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=False)
               .values_list("library_id", flat=True))  # a hint: the queue's constraint decides
    queued = []
    for library_id, root in Library.objects.filter(pk__in=waiting - busy).order_by("pk").values_list("pk", "path"):
        job = _queue_one(library_id, root)
        if job is not None:
            queued.append(job)
    return queued


def _queue_one(library_id: int, root: str) -> ScanJob | None:
    problem = root_problem(library_id, root)  # looked at before the transaction: a share may be slow
    with transaction.atomic():
        rows = pending.read_due(library_id, MAX_PENDING_READ + 1)
        if not rows:
            return None
        if problem:  # an outage, not a failure: the changes wait for the folder to come back
            pending.postpone([row.id for row in rows], reason=problem)
            if library_id not in _unavailable:
                _unavailable.add(library_id)
                log_decision(f"{len(rows):,} changed paths wait: {problem}", action="changes_waiting",
                             library_id=library_id, level=logging.WARNING)
            return None
        _unavailable.discard(library_id)
        scope = [] if len(rows) > MAX_PENDING_READ else collapse([row.path for row in rows])
        if len(scope) > MAX_PATHS:
            scope = []  # too many places at once: one walk of the whole library costs less
        triggers = {row.trigger for row in rows}
        trigger = next(t for t in (ScanJob.Trigger.CATCH_UP, ScanJob.Trigger.NOTIFY, ScanJob.Trigger.WATCH)
                       if t in triggers)
        what = describe_scope(scope) if scope else "the whole library"
        job = lifecycle.queue(library_id=library_id, mode=ScanJob.Mode.QUICK, trigger=trigger, scope=scope,
                              message=f"Quick scan of {what} queued for "
                                      f"{words.count(len(rows), 'changed path')} ({trigger})",
                              from_changes=True, change_failures=max(row.failures for row in rows))
        if job is None:
            return None  # an open job came first (or the library went): the changes wait for it
        # The job takes its scope's own places ("" for the whole library); places inside them
        # stay noted until it completes (pending.release_read), so that one in a folder it
        # cannot read is still owed (pending.keep_unread).
        pending.take([row.id for row in rows if row.path in scope or not scope and not row.path])
    return job


def root_problem(library_id: int, root: str) -> str:
    """Why the library folder cannot be scanned now (gone, not a folder, unreadable, outside
    MEDIA_ROOTS, or empty while files are catalogued: an unmounted share's mount point), or ''."""
    if settings.MEDIA_ROOTS and not any(is_within(root, media) for media in settings.MEDIA_ROOTS):
        return f"The library folder {root} is outside MEDIA_ROOTS"
    try:
        library_root = LibraryRoot(root)
        library_root.check()
        with os.scandir(root) as entries:
            empty = next(entries, None) is None
    except RootUnavailable as exc:
        return str(exc)
    except OSError as exc:
        return f"The library folder {root} cannot be read: {exc.strerror}"
    if empty and selectors.catalogued_elsewhere(library_id, library_root.device):
        return f"The library folder {root} is empty but files are catalogued; is the drive mounted?"
    return ""


def _locate(raw, libraries: list[tuple[int, str]]) -> tuple[int | None, str, str]:
    """(library id, relative path, '') for a path inside a library, else (None, '', reason).

    The library is the one whose walk will see the path: through a symlink, where it really is,
    unless the link stays inside its library (which the walk follows)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, "", "not a path"
    if not raw.startswith("/"):
        return None, "", "not an absolute path"
    if "\x00" in raw:
        return None, "", "contains a NUL character"
    if len(raw.encode("utf-8", "surrogateescape")) > PATH_MAX or any(
            len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in raw.split("/")):
        return None, "", f"longer than a file system allows ({PATH_MAX:,} bytes, {NAME_MAX} a name)"
    path = os.path.normpath(raw)
    real = os.path.realpath(raw)  # the parts that exist resolved: a deleted file's folder still is
    named, holding = _library_of(path, libraries), _library_of(real, libraries)
    if named is not None and named == holding:
        found, where = named, path  # no link, or one inside its library: its walk sees it there
    elif holding is not None:
        found, where = holding, real  # through a link out of the library that names it: where it is
    elif named is not None:
        return None, "", f"it leads through a link out of its library, to {real}, inside no library"
    else:
        return None, "", INSIDE_NO_LIBRARY
    try:
        rel = relative(where, found[1])
    except ScopeError as exc:
        return None, "", str(exc)
    if problem := why_uncatalogable(rel):
        return None, "", problem
    return found[0], rel, ""


def _library_of(path: str, libraries: list[tuple[int, str]]) -> tuple[int, str] | None:
    return next(((pk, root) for pk, root in libraries if is_within(path, root)), None)
