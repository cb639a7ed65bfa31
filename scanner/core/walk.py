"""The library walk: sorted, iterative, resumable, safe on hostile trees. No Django here.

Order. Inside a folder, entries are sorted by name, folders with a '/' appended to their name.
A depth-first walk in that order yields relative paths in plain string order (code points,
which is UTF-8 byte order), so "everything up to the last committed path" is one comparison:
the scanner's checkpoint is just that path, and the catalogue range a batch covers is
`checkpoint < path <= last path of the batch` (PostgreSQL uses the "C" collation for it).

Safety. Symlinks are followed only when their target lies inside the root; a folder already on
the current path (a loop) is not entered twice. Hidden entries and NAS/OS system folders are
skipped. If the root disappears, is unmounted (its device changes) or becomes unreadable,
RootUnavailable stops the walk.

Errors are never absences: only a listing that succeeded shows what a folder holds. A folder
that cannot be listed, entered or stat'ed, and an entry not named like a media file whose type
cannot be told, go to `on_dir_error` and are skipped (the scan keeps their rows). A media file
that cannot be stat'ed or typed, or whose name is not UTF-8, is yielded with `error` set (counted
failed, row kept). Something is gone only when its folder, listed again, no longer has it.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from scanner.core.listing import UNTYPED, Listing, list_folder
from scanner.core.readahead import ReadAhead
from scanner.core.scope import Scope

PROBE_FOLDERS = 3  # folder stats timed before deciding whether the walk reads ahead
SLOW_STAT = 100e-6  # seconds: a median folder stat slower than this is a network round trip, not a cache hit
_slow_roots: dict[str, bool] = {}  # what this process found for each library root (a resume needs no probe)
MAX_PATH_BYTES = 2000  # longer relative paths cannot be indexed in the catalogue
INT64 = 2**63  # sizes and mtimes (ns) must fit the catalogue's 64-bit columns


class RootUnavailable(Exception):
    """The library root vanished, was unmounted or became unreadable."""


@dataclass(slots=True)
class FileEntry:
    path: str  # relative to the root, '/'-separated
    kind: str  # video, audio or image
    extension: str  # lower case, no dot
    size: int = 0
    mtime_ns: int = 0
    error: str = ""  # why the file cannot be catalogued; empty when it can
    bad_name: bool = False  # not valid UTF-8: cannot be stored, not even as a checkpoint
    inode: int | None = None  # with `device`: what a rename keeps (scanner/engine/moves.py); None if out of range
    device: int | None = None

    @property
    def can_end_a_run(self) -> bool:
        """Whether its path can be stored as the checkpoint."""
        return not self.bad_name


NOT_UTF8 = "file name is not valid UTF-8"
VANISHED = "vanished during the scan"
TOO_LONG = "path is too long to catalogue"


def _before(after: str, folder: str) -> bool:
    """Whether the whole folder ('a/b/') lies before the checkpoint `after`."""
    return bool(after) and folder <= after and not after.startswith(folder)


def why_uncatalogable(path: str) -> str:
    """Empty string if `path` can be stored, else the reason it cannot."""
    if path.isascii():
        return "" if len(path) <= MAX_PATH_BYTES else TOO_LONG
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return NOT_UTF8
    return "" if size <= MAX_PATH_BYTES else TOO_LONG


class Walker:
    """Yields the media files under `root` in walk order, after `after` (a checkpoint)."""

    def __init__(
        self,
        root: str,
        *,
        after: str = "",
        on_dir_error: Callable[[str, OSError], None] | None = None,
        threads: int = 0,
        ahead: int = 10_000,
        slow_share: bool | None = None,
        scope: Scope | None = None,
    ):
        self.root = os.path.realpath(root)
        if self.root != os.path.abspath(root):
            # Library paths are stored resolved; a folder since replaced by a link would lead
            # the scan somewhere else.
            raise RootUnavailable(f"The library folder {root} is now a link to {self.root}; scans never follow it")
        self.after = after
        self.scope = scope or Scope([])  # a targeted scan walks only these paths (scanner/core/scope.py)
        self.on_dir_error = on_dir_error or (lambda path, error: None)
        self.threads = threads  # read-ahead threads on a slow share (readahead.py); 0 walks serially
        self.ahead = ahead  # entries the read-ahead may hold
        # None: decided by timing the first folder stats, unless this process has walked the root before.
        self.slow_share = slow_share if slow_share is not None else _slow_roots.get(self.root)
        self._probe: list[float] = []
        self.root_was_empty = False
        self._root_id = self._stat_root()

    def _stat_root(self) -> tuple[int, int]:
        try:
            st = os.stat(self.root)
        except OSError as exc:
            raise RootUnavailable(f"The library folder {self.root} is not available: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise RootUnavailable(f"The library folder {self.root} is not a folder any more")
        return st.st_dev, st.st_ino

    @property
    def root_device(self) -> int:
        return self._root_id[0]

    def check_root(self) -> None:
        """Raise RootUnavailable unless the root is still the same, readable folder."""
        if self._stat_root() != self._root_id:
            raise RootUnavailable(f"The library folder {self.root} was replaced or unmounted during the scan")
        try:
            with os.scandir(self.root) as it:
                next(it, None)
        except OSError as exc:
            raise RootUnavailable(f"The library folder {self.root} became unreadable: {exc.strerror}") from None

    def __iter__(self) -> Iterator[FileEntry]:
        return self._media(sort=True, after=self.after, report=True, entries=True)

    def count(self, *, should_stop: Callable[[], bool], every: int = 1000,
              on_progress: Callable[[int], None] = lambda n: None,
              notice: frozenset[str] = frozenset(), on_notice: Callable[[], bool] = lambda: True) -> int | None:
        """How many media files the walk will see (all of them, not only after the
        checkpoint); None if `should_stop` said so. No stat of files: it is cheap. Serially
        unsorted; with read-ahead sorted, as the read-ahead follows the walk's order.
        `on_notice` is called at files with an extension in `notice` until it returns True."""
        count = 0
        for extension in self._media(sort=bool(self.threads), after="", report=False, entries=False):
            count += 1
            if extension in notice and on_notice():
                notice = frozenset()
            if count % every == 0:
                if should_stop():
                    return None
                on_progress(count)
        return count

    def _media(self, *, sort: bool, after: str, report: bool, entries: bool) -> Iterator:
        """Each media file, depth first: a FileEntry (with its stat) when `entries`, else its
        extension. Folders that cannot be read go to on_dir_error when `report`.

        With `threads`, the first folder stats are timed: on a slow share (network round trips)
        the rest of the walk, and every later pass, reads ahead in parallel (readahead.py)."""
        reader: ReadAhead | None = None
        probing = bool(self.threads) and self.slow_share is None
        try:
            if self.threads and self.slow_share:
                reader = self._read_ahead(after, entries, position="")
            root_entries = self._list("", sort, report, reader)
            if root_entries is None:
                self.check_root()
                raise RootUnavailable(f"The library folder {self.root} cannot be read")
            self.root_was_empty = not root_entries
            scope = self.scope
            # The current folder and its ancestors: (relative prefix, children left, (dev, ino),
            # listing, whether it lies in the scope).
            stack = [("", iter(root_entries), self._root_id, root_entries, not scope)]
            on_path = {self._root_id}
            while stack:
                prefix, children, folder_id, _, in_scope = stack[-1]
                for entry, media in children:
                    rel = prefix + entry.name
                    if media is not None and media is not UNTYPED:
                        if (not after or rel > after) and (in_scope or scope.holds(rel)):
                            yield self._file_entry(entry, rel, *media) if entries else media[1]
                        continue
                    folder = media
                    sub = rel + "/"
                    if _before(after, sub):
                        continue  # the whole folder lies before the checkpoint
                    sub_in_scope = in_scope or scope.holds(rel)
                    if not sub_in_scope and not scope.leads_to(sub):
                        continue  # a targeted scan's walk: nothing of its scope in there
                    try:
                        st = self._timed_stat(entry) if probing else entry.stat()
                    except OSError as exc:  # vanished since the listing, or cannot be entered
                        self._unreadable(sub, exc, report)
                        continue
                    if folder is UNTYPED and (not stat.S_ISDIR(st.st_mode) or not self._inside_root(entry.path)):
                        continue  # not a folder after all, or a link out of the root
                    sub_id = (st.st_dev, st.st_ino)
                    if sub_id in on_path:
                        continue  # a symlink (or bind mount) loop
                    if probing and self.slow_share is not None:
                        probing = False
                        if self.slow_share:  # from here on, read ahead of the walk
                            reader = self._read_ahead(after, entries, position=sub)
                            for frame_prefix, _, _, listing, _ in stack:
                                reader.learn(frame_prefix, listing)
                    grandchildren = self._list(sub, sort, report, reader)
                    if grandchildren is not None:
                        stack.append((sub, iter(grandchildren), sub_id, grandchildren, sub_in_scope))
                        on_path.add(sub_id)
                        break  # descend; this folder's iterator resumes afterwards
                else:
                    stack.pop()
                    on_path.discard(folder_id)
        finally:
            if reader is not None:
                reader.close()

    def _timed_stat(self, entry: os.DirEntry) -> os.stat_result:
        """A folder's stat, timed until PROBE_FOLDERS have been: then `slow_share` is decided."""
        started = time.perf_counter()
        try:
            return entry.stat()
        finally:
            self._probe.append(time.perf_counter() - started)
            if len(self._probe) >= PROBE_FOLDERS:
                self.slow_share = _slow_roots[self.root] = sorted(self._probe)[len(self._probe) // 2] > SLOW_STAT

    def _read_ahead(self, after: str, entries: bool, *, position: str) -> ReadAhead:
        return ReadAhead(root=self.root, threads=self.threads, ahead=self.ahead, position=position,
                         list_folder=partial(list_folder, sort=True, inside_root=self._inside_root),
                         skip=partial(self._skips, after), stat_files=entries)

    def _skips(self, after: str, folder: str) -> bool:
        """Whether the walk will not enter the folder ('a/b/'): the read-ahead leaves it alone."""
        if _before(after, folder):
            return True
        scope = self.scope
        return bool(scope) and not scope.leads_to(folder) and not scope.holds(folder[:-1])

    def _list(self, prefix: str, sort: bool, report: bool, reader: ReadAhead | None) -> Listing | None:
        """The folder's listing (scanner/core/listing.py); None if it cannot be listed."""
        try:
            if reader is not None:
                return reader.take(prefix)
            return list_folder(os.path.join(self.root, prefix) if prefix else self.root, sort=sort,
                               inside_root=self._inside_root)
        except OSError as exc:
            if not prefix and isinstance(exc, FileNotFoundError):
                self.check_root()
                return []
            self._unreadable(prefix, exc, report)
            return None

    def _file_entry(self, entry: os.DirEntry, rel: str, kind: str, extension: str) -> FileEntry:
        """The entry of a media file with its stat, or with the reason it cannot be catalogued."""
        problem = why_uncatalogable(rel)
        item = FileEntry(rel, kind, extension, 0, 0, problem, problem == NOT_UTF8)
        if not problem:
            try:
                st = entry.stat()
                item.size, item.mtime_ns = st.st_size, st.st_mtime_ns
                if st.st_ino < INT64 and st.st_dev < INT64:  # 64-bit unsigned on some file systems
                    item.inode, item.device = st.st_ino, st.st_dev
                if not (-INT64 < st.st_mtime_ns < INT64 and st.st_size < INT64):
                    item.error = "its modification time or size is out of range"
                if not stat.S_ISREG(st.st_mode):
                    item.error = "not a regular file"  # a folder named like a film, seen through an unknown type
            except OSError as exc:
                self.check_root()
                gone = isinstance(exc, FileNotFoundError) and not self._still_listed(rel)
                item.error = VANISHED if gone else f"cannot be read: {exc.strerror}"
        return item

    def _unreadable(self, prefix: str, error: OSError, report: bool) -> None:
        """A folder that could not be entered or listed: reported, unless it is gone (not listed
        any more by its parent), in which case its files are missing like any vanished file."""
        self.check_root()
        if report and not (isinstance(error, FileNotFoundError) and not self._still_listed(prefix)):
            self.on_dir_error(prefix, error)

    def _still_listed(self, rel: str) -> bool:
        """Whether the folder holding `rel` still lists it. An error is never evidence of absence:
        only a listing that succeeded and lacks the name is."""
        parent, _, name = rel.rstrip("/").rpartition("/")
        try:
            with os.scandir(os.path.join(self.root, parent) if parent else self.root) as it:
                return any(entry.name == name for entry in it)
        except OSError:
            return True

    def _inside_root(self, path: str) -> bool:
        target = os.path.realpath(path)
        return target == self.root or target.startswith(self.root + os.sep)
