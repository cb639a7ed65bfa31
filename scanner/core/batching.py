"""Cutting a walk into runs of files to commit together, at a gentle pace if asked. No Django here.

A run is the files of the walk after one checkpoint up to and including its last file, plus
the folders that could not be read on the way (their catalogue rows are not known to be gone).
A run ends after SCANNER_BATCH_SIZE files, or after MAX_RUN_SECONDS of walking (a slow share,
a rate limit), so that progress is committed, and a pause from another process noticed, every
few seconds whatever the pace. Runs are short where files are read (READ_RUN files to read,
when the engine knows every readable file will be, as in a first scan) and on a slow share
(walk.py), so that reading one run overlaps walking the next and committing the one before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.core.entries import FileEntry
from scanner.core.walk import Walker

MAX_RUN_SECONDS = 2.0  # a run is cut after this long even if it has fewer files
SLOW_SHARE_RUN = 256  # files per run on a slow share: its tags are read while the walk goes on
READ_RUN = 256  # files to read per run, when each is read: their reads overlap the other runs' work
CLOCK_CHECK_EVERY = 64  # files between clock checks when there is no rate limit (a hot loop)


class Stopped(Exception):
    """This process asked the scan to stop (a pause or cancel here, or shutdown)."""


@dataclass
class Run:
    lower: str  # the checkpoint before this run (exclusive)
    upper: str | None  # the last path of this run (inclusive); None: the rest (the final run)
    entries: list[FileEntry]
    unreadable: list[tuple[str, str]]  # (folder prefix, reason) of folders that could not be read

    @property
    def final(self) -> bool:
        return self.upper is None


class Batcher:
    """Turns a walk into runs; `on_dir_error` is the Walker's callback for unreadable folders."""

    def __init__(self, *, checkpoint: str, batch_size: int, files_per_second: float, stop: threading.Event,
                 reads: frozenset[str] = frozenset()):
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.files_per_second = files_per_second
        self.stop = stop
        self._unreadable: list[tuple[str, str]] = []
        self.reads = reads  # extensions the engine knows will be read (non-empty files)

    def on_dir_error(self, prefix: str, error: OSError) -> None:
        """A folder the walk could not read: its catalogue rows are kept (not known to be gone)."""
        self._unreadable.append((prefix, f"{error.strerror or error}"))

    def runs(self, walker: Walker) -> Iterator[Run]:
        lower, entries, to_read = self.checkpoint, [], 0
        limit = self.files_per_second
        check_every = 1 if limit else CLOCK_CHECK_EVERY
        reads, stopped = self.reads, self.stop.is_set
        slow_share_run = min(SLOW_SHARE_RUN, self.batch_size)
        walked = 0
        started = run_started = time.monotonic()
        for entry in walker:  # a hot loop (every file of the scan): names bound locally
            if stopped():
                raise Stopped
            entries.append(entry)
            walked += 1
            if reads and entry.size and entry.extension in reads:
                to_read += 1
            if limit:
                self._throttle(walked / limit - (time.monotonic() - started))
            # The walk decides whether it is on a slow share during its first folders: asked each time.
            full = len(entries) >= (slow_share_run if walker.slow_share else self.batch_size) or (
                to_read >= READ_RUN or walked % check_every == 0 and time.monotonic() - run_started >= MAX_RUN_SECONDS
            )
            if full and entry.can_end_a_run:
                yield Run(lower, entry.path, entries, self._take_unreadable())
                lower, entries, to_read, run_started = entry.path, [], 0, time.monotonic()
        yield Run(lower, None, entries, self._take_unreadable())

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

    def _throttle(self, ahead: float) -> None:
        if ahead > 0 and self.stop.wait(ahead):
            raise Stopped

    def _take_unreadable(self) -> list[tuple[str, str]]:
        taken, self._unreadable = self._unreadable, []
        return taken
