"""What a watched library's events say changed: the places a scan should look at (DESIGN.md 8).

watchdog calls `on_any_event` from its observer thread; each event is reduced to a place (a
file's folder; a folder itself; a file in the library root itself), or to nothing for what no
scan catalogues (hidden and system folders, files that are not media). The places wait here
until the library has been quiet for the watch delay (or MAX_WAIT after the first), then the
watcher writes them as pending changes. A lost-events notice (the kernel's queue overflowed)
is the whole library ("").
"""

from __future__ import annotations

import logging
import os
import threading
import time

from watchdog.events import EventsLostEvent, FileSystemEvent, FileSystemEventHandler

from libraries.paths import is_within
from scanner.core.entries import why_uncatalogable
from scanner.core.extensions import KIND_BY_EXTENSION
from scanner.core.listing import SYSTEM_FOLDERS

MAX_WAIT = 30.0  # seconds after a library's first unwritten change: written even if changes go on


class ChangedPlaces(FileSystemEventHandler):
    """One library's changed places, from the observer's thread, until they are written."""

    def __init__(self, root: str):
        self.root = root
        self._lock = threading.Lock()
        self._places: set[str] = set()
        self._first = self._last = 0.0

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, EventsLostEvent):
            places: set[str | None] = {""}  # the kernel's queue overflowed: anything may have changed
        else:
            places = {self._place(os.fsdecode(path), event.is_directory)
                      for path in (event.src_path, getattr(event, "dest_path", "")) if path}
            places.discard(None)
        if places:
            with self._lock:
                now = time.monotonic()
                if not self._places:
                    self._first = now
                self._last = now
                self._places.update(places)  # type: ignore[arg-type]  # None was discarded

    def _place(self, path: str, is_dir: bool) -> str | None:
        """What a scan should look at for a change at `path`; None for what no scan catalogues."""
        if not is_within(path, self.root) or path == self.root:
            return None
        rel = path[len(self.root.rstrip("/")) + 1:]
        if any(part.startswith(".") or part in SYSTEM_FOLDERS for part in rel.split("/")):
            return None  # hidden and system folders are never walked
        if not is_dir:
            name = rel.rpartition("/")[2]
            dot = name.rfind(".")
            if dot <= 0 or name[dot + 1:].lower() not in KIND_BY_EXTENSION:
                return None  # not a media file (a download's .part, a .nfo, ...)
            rel = rel.rpartition("/")[0] or rel  # its folder; a file in the root, itself
        while rel and why_uncatalogable(rel):  # a name the catalogue cannot hold: its folder, which the walk reports
            rel = rel.rpartition("/")[0]
        return rel or None

    def take_due(self, *, delay: float) -> list[str]:
        """The places, once the library has been quiet for `delay` seconds (or MAX_WAIT passed)."""
        with self._lock:
            now = time.monotonic()
            if not self._places or (now - self._last < delay and now - self._first < MAX_WAIT):
                return []
            places, self._places = sorted(self._places), set()
            return places

    def put_back(self, places: list[str]) -> None:
        with self._lock:
            if not self._places:
                self._first = self._last = time.monotonic()
            self._places.update(places)


class UnwatchedFolders(logging.Handler):
    """Folders watchdog could not watch once a watch was running (the kernel's watch limit,
    reached by folders created since): it only logs "Unable to watch", so this collects them
    from its log records for the watcher to act on."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self._lock_paths = threading.Lock()
        self._paths: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "Unable to watch %r: %s" and isinstance(record.args, tuple) and record.args:
            with self._lock_paths:
                self._paths.append(os.fsdecode(record.args[0]))  # type: ignore[arg-type]  # a path, str or bytes

    def take(self) -> list[str]:
        with self._lock_paths:
            taken, self._paths = self._paths, []
        return taken
