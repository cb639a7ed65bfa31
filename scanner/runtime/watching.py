"""Live watching: each library with `watch` on is watched by one live scanning process (DESIGN.md 8).

The watch is a lease, a LibraryWatch row: claimed by inserting it (the primary key is the
library, so one process wins), gone with its worker's row (a clean exit deletes that row;
recovery deletes a dead process's), and then free for any process to take. The holder keeps
an inotify watch (watchdog) on the folder. Events are reduced to the places they touch (a
file's folder; a folder itself; a file in the library root itself) and, after
SCANNER_WATCH_DELAY seconds of quiet in that library (at most MAX_WAIT after the first event),
written as pending changes, which become a targeted scan (scanner/jobs/changes.py). Whatever was
seen but not written when a process dies is covered by the quick scan of the whole library
that the next holder queues on taking the watch up.

If the kernel's watch limit (fs.inotify.max_user_watches) is reached, the library's root is
watched alone: the lease says so, and scheduled scans cover the rest.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time

from django.db import DatabaseError, IntegrityError, transaction
from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from libraries.models import Library
from libraries.paths import is_within
from scanner.core.entries import why_uncatalogable
from scanner.core.scope import collapse, relative
from scanner.jobs import changes, pending, selectors
from scanner.jobs.events import log_decision, record_event
from scanner.models import LibraryWatch, PendingChange, ScanJob, Worker
from scanner.runtime.changed_places import ChangedPlaces, UnwatchedFolders

SYNC_INTERVAL = 2.0  # seconds between looks at which libraries this process should watch
# What a scan may find changed: contents (modified, closed after writing), stats (attributes: a
# touch, a chmod that makes a file readable), names (created, deleted, moved).
# And the kernel's event queue overflowing (fs.inotify.max_queued_events): a whole-library scan.
EVENTS = [FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileClosedEvent, FileAttribEvent, FileMovedEvent,
          DirCreatedEvent, DirDeletedEvent, DirMovedEvent, DirAttribEvent, EventsLostEvent]
LIMIT_ERRORS = (errno.ENOSPC, errno.EMFILE)  # inotify's watch and instance limits
WATCHDOG_LOGGER = "watchdog.observers.inotify"  # says "Unable to watch" for a folder the limit refused


class Watcher:
    """This process's watches: which libraries it holds, and their observers."""

    def __init__(self, *, delay: float, label: str):
        self.delay = delay
        self.label = label
        self._observer = Observer()
        # library id -> (root, watch, changes, (st_dev, st_ino) of the root when the watch began)
        self._watches: dict[int, tuple[str, ObservedWatch, ChangedPlaces, tuple[int, int]]] = {}
        self._last_sync = float("-inf")
        self._refused: set[tuple[int, str]] = set()  # (library, why) already logged: said once, not every sync
        self._unwatched = UnwatchedFolders()
        logging.getLogger(WATCHDOG_LOGGER).addHandler(self._unwatched)

    def tick(self, worker: Worker) -> None:
        """A duty, every fraction of a second: write what is due; now and then, take up or drop leases."""
        for library_id, (_, _, found, _) in list(self._watches.items()):
            places = found.take_due(delay=self.delay)
            if places:
                try:
                    # "" (the library itself) collapses to the whole library: written as "" too.
                    changes.note_library_changes(library_id, collapse(places) or [""],
                                                 trigger=PendingChange.Trigger.WATCH)
                except Exception:
                    found.put_back(places)  # the database is away: kept for the next tick
                    raise
        if unwatched := self._unwatched.take():
            self._partly_unwatched(unwatched, worker)
        if time.monotonic() - self._last_sync >= SYNC_INTERVAL:
            self._last_sync = time.monotonic()
            self._sync(worker)

    def stop(self) -> None:
        """Stop watching (the leases go with the worker row, which the caller deletes)."""
        logging.getLogger(WATCHDOG_LOGGER).removeHandler(self._unwatched)
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout=5)
        self._watches.clear()

    # ----------------------------------------------------------------- leases
    def _sync(self, worker: Worker) -> None:
        wanted = dict(Library.objects.filter(watch=True).values_list("pk", "path"))
        held = set(LibraryWatch.objects.filter(worker=worker).values_list("library_id", flat=True))
        for library_id, (root, watch, _, identity) in list(self._watches.items()):
            if library_id not in held or wanted.get(library_id) != root or not self._still_watching(watch, identity):
                # Taken from us, turned off, moved or deleted; or its folder went, was replaced
                # or remounted (the kernel's watch went with the old one): taken up again, with
                # a catch-up scan, once it is there.
                self._drop(library_id, worker)
        for library_id in held - set(self._watches):
            LibraryWatch.objects.filter(library_id=library_id, worker=worker).delete()  # a lease with no watch here
        taken = set(LibraryWatch.objects.values_list("library_id", flat=True))
        for library_id, root in wanted.items():
            if library_id not in taken:
                try:
                    self._take(library_id, root, worker)
                except DatabaseError:
                    raise  # the duty says so and tries again
                except Exception as exc:  # one library's trouble never keeps the others unwatched
                    LibraryWatch.objects.filter(library_id=library_id, worker=worker).delete()
                    self._say_once(library_id, "error", f"Cannot watch {root}: {type(exc).__name__}: {exc}")

    def _still_watching(self, watch: ObservedWatch, identity: tuple[int, int]) -> bool:
        """The root is still the folder the watch began on, and its emitter still runs (it stops
        when the watched folder itself is deleted)."""
        if _identity(watch.path) != identity:
            return False
        return any(emitter.watch == watch and emitter.is_alive() for emitter in self._observer.emitters)

    def _take(self, library_id: int, root: str, worker: Worker) -> None:
        identity = _identity(root)
        if identity is None:
            self._say_once(library_id, "unavailable", f"Cannot watch {root}: the folder is not available")
            return
        try:
            with transaction.atomic():
                lease = LibraryWatch.objects.create(library_id=library_id, worker=worker)
                # What changed while nobody watched (the server was down, the share remounted) is
                # owed a scan of the whole library, recorded with the lease: nothing after this
                # can drop it. Never scanned: the first scan is the user's (or the schedule's).
                if ScanJob.objects.filter(library_id=library_id).exists():
                    pending.note(library_id, [""], trigger=PendingChange.Trigger.CATCH_UP)
        except IntegrityError:
            return  # another process took it first, or the library or our worker row is gone
        found = ChangedPlaces(root)
        try:
            watch = self._schedule(found, root, recursive=True)
        except (OSError, RecursionError) as exc:  # the kernel's limits; a folder nested too deep to walk
            if isinstance(exc, OSError) and exc.errno not in LIMIT_ERRORS:
                LibraryWatch.objects.filter(pk=lease.pk, worker=worker).delete()
                self._say_once(library_id, "failed", f"Cannot watch {root}: {exc.strerror or exc}")
                return
            try:
                watch = self._schedule(found, root, recursive=False)
            except OSError as again:
                LibraryWatch.objects.filter(pk=lease.pk, worker=worker).delete()
                self._say_once(library_id, "limit", f"Cannot watch {root}: {again.strerror or again}")
                return
            self._partial(library_id, worker, f"Only the top folder of {root} is watched: {_why(exc)}.")
        self._watches[library_id] = (root, watch, found, identity)
        self._refused = {(lib, why) for lib, why in self._refused if lib != library_id}
        log_decision(f"Watching {root} for changes", action="watch_started", library_id=library_id, worker=self.label)
        changes.queue_scans_for_changes(library_ids={library_id})  # the catch-up, at once if it can be

    def _schedule(self, found: ChangedPlaces, root: str, *, recursive: bool) -> ObservedWatch:
        watch = self._observer.schedule(found, root, recursive=recursive, event_filter=EVENTS)
        if not self._observer.is_alive():
            self._observer.start()
        return watch

    def _partial(self, library_id: int, worker: Worker, what: str) -> None:
        note = f"{what} Until it is all watched, scheduled scans cover the rest."
        with transaction.atomic():  # the lease's flag and the library's event, or neither
            if not LibraryWatch.objects.filter(library_id=library_id, worker=worker).update(partial=True, note=note):
                return  # no longer ours
            job = selectors.library_scan_status(library_id)
            if job is not None:
                record_event(job.pk, "watch_partial", note, worker=self.label, library_id=library_id,
                             level=logging.WARNING)
            else:
                log_decision(note, action="watch_partial", library_id=library_id, worker=self.label,
                             level=logging.WARNING)

    def _partly_unwatched(self, paths: list[str], worker: Worker) -> None:
        """Folders created since a watch began that the kernel would not watch: the library is
        watched in part, and what is in them now is scanned (a catch-up of what is not watched)."""
        for library_id, (root, _, _, _) in list(self._watches.items()):
            folders = [path for path in paths if is_within(path, root) and path != root]
            if folders:
                rels = collapse([_storable(relative(path, root)) for path in folders])
                self._partial(library_id, worker, f"{len(rels):,} folders of {root} created since the watch began "
                                                  f"are not watched ({', '.join(rels[:3])}): the kernel's inotify "
                                                  "limit was reached; raise fs.inotify.max_user_watches (sysctl).")
                changes.note_library_changes(library_id, rels or [""], trigger=PendingChange.Trigger.WATCH)

    def _drop(self, library_id: int, worker: Worker) -> None:
        root, watch, _, _ = self._watches.pop(library_id)
        try:
            self._observer.unschedule(watch)
        except KeyError:
            pass  # its folder went away, and the observer with it
        LibraryWatch.objects.filter(library_id=library_id, worker=worker).delete()
        log_decision(f"Stopped watching {root}", action="watch_stopped", library_id=library_id, worker=self.label)

    def _say_once(self, library_id: int, why: str, message: str) -> None:
        if (library_id, why) not in self._refused:
            self._refused.add((library_id, why))
            log_decision(message, action="watch_refused", library_id=library_id, worker=self.label,
                         level=logging.WARNING)


def _storable(rel: str) -> str:
    """The folder itself, or the nearest one above it whose name the catalogue can hold."""
    while rel and why_uncatalogable(rel):
        rel = rel.rpartition("/")[0]
    return rel


def _why(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "a folder is nested too deep to watch"
    return (f"the kernel's inotify limit was reached ({getattr(error, 'strerror', None) or error}); raise "
            "fs.inotify.max_user_watches (sysctl)")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None
