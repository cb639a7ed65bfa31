"""Ordered read-ahead for the walk (DESIGN.md section 9). No Django here.

On a network share every readdir and stat is a round trip, and the walk (walk.py) asks for one
folder at a time. A small pool of threads lists the folders the walk will want next and stats
what they hold, a few entries at a time (so a big folder is stat'ed by every thread while the
walk already goes through it), and the walk finds the answers waiting. The walk still visits
the folders one by one, in its own order, with its own code:
- a prefetched listing is the result of the same `list_folder` call the walk would make;
- a stat made here is cached by its `os.DirEntry`, so the walk's own `entry.stat()` costs
  nothing (one the threads have not reached yet, the walk makes itself). An error is not
  cached: the walk's own call meets it again and handles it exactly as the serial walk does.
- where a share's listings give no types (d_type), classifying a folder's entries costs a stat
  each: the thread listing a big folder has the free threads help with those (`_Typing`), so
  the folder is not typed one round trip at a time.

Which work next. The walk visits folders in plain string order of their paths (with '/'
appended), so of the folders known and not yet listed, and of the entries not yet stat'ed, the
one with the smallest path is the one it will want soonest: the threads always take that one.
A folder becomes known when its parent's listing names it (real folders only: a symlinked
folder is listed when the walk goes into it, so a link loop cannot send the threads round it).
The walk tells the pool where it is; what lies before that is dropped, and a folder the walk
wants that nobody has started it lists itself.

Memory: the threads stop listing ahead while `ahead` entries are listed and not yet taken; at
most that many, plus the folders the threads are listing at that moment, are held.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
from collections.abc import Callable
from functools import partial

from scanner.core.listing import SYSTEM_FOLDERS, UNTYPED, Listing

Result = tuple[Listing | None, Exception | None]  # an OSError, or a bug the walk raises as it would
STAT_CHUNK = 8  # entries of a folder stat'ed by one thread in one go
# Entries past which a folder's types are told by several threads: smaller folders are typed by
# the thread listing them, while the others list the next ones (handing out chunks cost more).
TYPE_AHEAD = 64


class ReadAhead:
    """Lists and stats folders ahead of a walk that takes them in increasing path order."""

    def __init__(self, *, root: str, threads: int, ahead: int, list_folder: Callable[..., Listing],
                 skip: Callable[[str], bool], stat_files: bool, position: str = ""):
        self.root, self.ahead, self._list_folder = root, ahead, list_folder
        self._skip = skip  # folders the walk will not enter (before its checkpoint)
        self._stat_files = stat_files
        self._cond = threading.Condition()
        self._todo: list[str] = []  # heap of known folders nobody has started
        # Heap of (path of the first entry, n, entries or a big folder's _Typing): stats to make, a few
        # entries at a time, so that every thread stats a big folder while the walk goes through it.
        self._stats: list[tuple[str, int, list[os.DirEntry] | _Typing]] = []
        self._seq = itertools.count()
        self._busy: set[str] = set()  # being listed by a thread
        self._done: dict[str, Result] = {}
        self._held = 0  # entries in _done
        self._done_order: list[str] = []  # heap of the keys of _done
        self._position = position  # the last folder the walk took
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"readahead-{n}", daemon=True)
                         for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def take(self, prefix: str) -> Listing:
        """The folder's listing (OSError as list_folder raises it). Folders are taken in
        increasing path order; whatever lies before `prefix` is not wanted any more."""
        with self._cond:
            self._position = prefix
            self._drop_passed()
            while prefix in self._busy:
                self._cond.wait()
            result = self._pop(prefix)
            self._cond.notify_all()  # room may have freed
        if result is not None:  # listed by a thread, which also learns from it
            listing, error = result
        else:  # nobody started it: no waiting for a free thread
            listing, error = self._read(prefix)
            if listing is not None:
                self.learn(prefix, listing)
        if error is not None:
            raise error
        assert listing is not None
        return listing

    def close(self) -> None:
        """Stop the threads. One waiting on the share ends when its call returns."""
        with self._cond:
            self._closed = True
            self._todo.clear()
            self._stats.clear()
            self._done.clear()
            self._held = 0
            self._cond.notify_all()

    def learn(self, prefix: str, listing: Listing) -> None:
        """The listing is known now: the threads may list its sub-folders the walk has not
        passed yet, and stat its entries (the walk stats those it reaches first itself)."""
        subs = [prefix + entry.name + "/" for entry, media in listing
                if (media is None or media is UNTYPED) and not _is_link(entry)]
        subs = [sub for sub in subs if not self._skip(sub)]
        to_stat = [entry for entry, media in listing if media is None or media is UNTYPED or self._stat_files]
        with self._cond:
            for sub in subs:
                if sub > self._position and sub not in self._busy and sub not in self._done:
                    heapq.heappush(self._todo, sub)
            for start in range(0, len(to_stat), STAT_CHUNK):
                chunk = to_stat[start:start + STAT_CHUNK]
                heapq.heappush(self._stats, (prefix + chunk[0].name, next(self._seq), chunk))
            self._cond.notify_all()

    def _drop_passed(self) -> None:
        """Forget what lies before the walk's position: it will not be asked for."""
        position = self._position
        while self._todo and self._todo[0] <= position:
            heapq.heappop(self._todo)
        while self._stats and self._stats[0][0] < position:
            heapq.heappop(self._stats)
        while self._done_order and self._done_order[0] < position:
            self._pop(heapq.heappop(self._done_order))

    def _pop(self, prefix: str) -> Result | None:
        result = self._done.pop(prefix, None)
        if result is not None and result[0] is not None:
            self._held -= len(result[0])
        return result

    def _next(self) -> tuple[str | None, list[os.DirEntry] | Callable[[], None]] | None:
        """Under the lock: the folder to list or the entries to stat that the walk will reach
        first (a folder only while fewer than `ahead` entries are held); None once closed."""
        while not self._closed:
            listing_allowed = bool(self._todo) and self._held < self.ahead
            if self._stats and not (listing_allowed and self._todo[0] < self._stats[0][0]):
                key, _, job = heapq.heappop(self._stats)
                if isinstance(job, _Typing):  # a big folder being listed: a chunk of its entries, if any is left
                    if (chunk := job.take()) is None:
                        continue
                    heapq.heappush(self._stats, (key, next(self._seq), job))  # the next one, for another thread
                    return None, partial(job.work, chunk)
                return None, job
            if listing_allowed:
                prefix = heapq.heappop(self._todo)
                if prefix <= self._position or prefix in self._done or prefix in self._busy:
                    continue
                self._busy.add(prefix)
                return prefix, []
            self._cond.wait()
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                task = self._next()
            if task is None:
                return
            prefix, entries = task
            if prefix is None:
                entries() if callable(entries) else _warm(entries)
                continue
            try:
                result = self._read(prefix)
            except Exception as exc:  # a bug: the walk raises it when it gets there, as it would have
                result = (None, exc)
            with self._cond:
                self._busy.discard(prefix)
                if not self._closed and prefix >= self._position:  # equal: the walk is waiting for it
                    self._done[prefix] = result
                    self._held += len(result[0] or ())
                    heapq.heappush(self._done_order, prefix)
                self._cond.notify_all()
            if result[0] is not None and not self._closed:
                self.learn(prefix, result[0])

    def _read(self, prefix: str) -> Result:
        try:
            path = os.path.join(self.root, prefix) if prefix else self.root
            return self._list_folder(path, on_read=lambda raw: self._type_ahead(prefix, raw)), None
        except OSError as exc:
            return None, exc

    def _type_ahead(self, prefix: str, raw: list[os.DirEntry]) -> None:
        """Between a big folder's readdir and its classification: this thread and free ones type its entries."""
        typing = _Typing(raw, self._cond, lambda: self._closed)
        if self._stat_files and len(raw) > TYPE_AHEAD:  # not in the count's pass, which types few entries
            with self._cond:
                heapq.heappush(self._stats, (prefix + typing.chunks[0][0].name, next(self._seq), typing))
                self._cond.notify_all()
            typing.finish()


class _Typing:
    """A big folder's entries, typed a chunk at a time by the thread listing it and by free ones.
    `take` and the counts are used under the read-ahead's lock."""

    def __init__(self, raw: list[os.DirEntry], cond: threading.Condition, closed: Callable[[], bool]):
        entries = [entry for entry in raw if entry.name[0] != "." and entry.name not in SYSTEM_FOLDERS]
        self.chunks = [entries[start:start + STAT_CHUNK] for start in range(0, len(entries), STAT_CHUNK)]
        self.taken = 0  # chunks handed out
        self.running = 0  # chunks handed out and not finished
        self._cond, self._closed = cond, closed

    def take(self) -> list[os.DirEntry] | None:
        if self.taken == len(self.chunks):
            return None
        self.taken += 1
        self.running += 1
        return self.chunks[self.taken - 1]

    def work(self, chunk: list[os.DirEntry]) -> None:
        for entry in chunk:
            try:
                if entry.is_symlink():  # without d_type, a stat (cached by the entry)
                    entry.is_dir()  # a link's target, as the classification asks
            except OSError:
                pass  # the classification meets the error again
        with self._cond:
            self.running -= 1
            self._cond.notify_all()

    def finish(self) -> None:
        """The listing thread's part: the chunks nobody took, then the wait for the others'."""
        while True:
            with self._cond:
                chunk = None if self._closed() else self.take()
                if chunk is None:
                    while self.running and not self._closed():
                        self._cond.wait()
                    return
            self.work(chunk)


def _warm(entries: list[os.DirEntry]) -> None:
    for entry in entries:
        try:
            entry.stat()  # cached by the entry for the walk
        except OSError:
            pass  # the walk's own call meets the error again


def _is_link(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return True
