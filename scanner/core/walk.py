"""The library walk: sorted, iterative, resumable, safe on hostile trees. No Django here.

Order. Inside a folder, entries are sorted by name, folders with a '/' appended to their name.
A depth-first walk in that order yields relative paths in plain string order (code points,
which is UTF-8 byte order), so "everything up to the last committed path" is one comparison:
the scanner's checkpoint is just that path, and the catalogue range a batch covers is
`checkpoint < path <= last path of the batch` (PostgreSQL uses the "C" collation for it).

Safety. Symlinks are followed only when their target lies inside the root; a folder already on
the current path (a loop) is not entered twice. Hidden entries and NAS/OS system folders are
skipped. If the root disappears, is unmounted or becomes unreadable, RootUnavailable stops the
walk (scanner/core/root.py).

Errors are never absences: only a listing that succeeded shows what a folder holds. A folder
that cannot be listed, entered or stat'ed, and an entry not named like a media file whose type
cannot be told, go to `on_dir_error` and are skipped (the scan keeps their rows). Media files
come as FileEntry (scanner/core/entries.py), with the reason when one cannot be catalogued.

The count. On a slow share (read ahead) the discovery count takes a name with a media extension
for a file without asking its type: a share whose listings give no types (d_type) would need a
stat, so a round trip, for each, and the walk proper makes them again. It is an estimate where a
folder or a link bears such a name; a scan ends on what the walk itself found.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from functools import partial

from scanner.core.entries import FileEntry, file_entry
from scanner.core.listing import UNTYPED, Listing, list_folder
from scanner.core.probe import ShareProbe, known
from scanner.core.readahead import ReadAhead
from scanner.core.root import LibraryRoot, RootUnavailable
from scanner.core.scope import Scope


def _before(after: str, folder: str) -> bool:
    """Whether the whole folder ('a/b/') lies before the checkpoint `after`."""
    return bool(after) and folder <= after and not after.startswith(folder)


def _skips(scope: Scope, after: str, folder: str) -> bool:
    """Whether the walk will not enter the folder ('a/b/'): the read-ahead leaves it alone."""
    return _before(after, folder) or (bool(scope) and not scope.leads_to(folder) and not scope.holds(folder[:-1]))


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
        self.library_root = LibraryRoot(root)  # RootUnavailable if it is not there
        self.root = self.library_root.path
        self.after = after
        self.scope = scope or Scope([])  # a targeted scan walks only these paths (scanner/core/scope.py)
        self.on_dir_error = on_dir_error or (lambda path, error: None)
        self.threads = threads  # read-ahead threads on a slow share (readahead.py); 0 walks serially
        self.ahead = ahead  # entries the read-ahead may hold
        # None: decided by timing the first folder listings, unless this process has walked the root before.
        self.slow_share = slow_share if slow_share is not None else known(self.root)
        self._probe = ShareProbe(self.root)  # scanner/core/probe.py
        self.root_was_empty = False

    def __iter__(self) -> Iterator[FileEntry]:
        return self._media(sort=True, after=self.after, report=True, entries=True)

    def count(self, *, should_stop: Callable[[], bool], every: int = 1000,
              on_progress: Callable[[int], None] = lambda n: None,
              notice: frozenset[str] = frozenset(), on_notice: Callable[[], bool] = lambda: True) -> int | None:
        """How many media files the walk will see (all of them, not only after the
        checkpoint); None if `should_stop` said so. No stat of files: it is cheap. Serially
        unsorted; with read-ahead sorted, as the read-ahead follows the walk's order, and an
        estimate (see the module's docstring).
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

        With `threads`, the first folder listings are timed: on a slow share (network round
        trips) the rest of the walk, and every later pass, reads ahead in parallel (readahead.py)."""
        reader: ReadAhead | None = None
        probing = bool(self.threads) and self.slow_share is None
        try:
            if self.threads and self.slow_share:
                reader = self._read_ahead(after, entries, position="")
            root_entries = self._list("", sort, report, reader, probing)
            if root_entries is None:
                self.library_root.check()
                raise RootUnavailable(f"The library folder {self.root} cannot be read")
            self.root_was_empty = not root_entries
            scope = self.scope
            # The current folder and its ancestors: (relative prefix, children left, (dev, ino),
            # listing, whether it lies in the scope).
            stack = [("", iter(root_entries), self.library_root.id, root_entries, not scope)]
            on_path = {self.library_root.id}
            if probing and self.slow_share is not None:  # decided on the root's listing alone
                probing, reader = False, self._start_reading_ahead(after, entries, stack)
            while stack:
                prefix, children, folder_id, _, in_scope = stack[-1]
                for entry, media in children:
                    rel = prefix + entry.name
                    if media is not None and media is not UNTYPED:
                        if (not after or rel > after) and (in_scope or scope.holds(rel)):
                            yield file_entry(self.library_root, entry, rel, *media) if entries else media[1]
                        continue
                    folder = media
                    sub = rel + "/"
                    if _before(after, sub):
                        continue  # the whole folder lies before the checkpoint
                    sub_in_scope = in_scope or scope.holds(rel)
                    if not sub_in_scope and not scope.leads_to(sub):
                        continue  # a targeted scan's walk: nothing of its scope in there
                    try:
                        st = entry.stat()
                    except OSError as exc:  # vanished since the listing, or cannot be entered
                        self._unreadable(sub, exc, report)
                        continue
                    if folder is UNTYPED and (not stat.S_ISDIR(st.st_mode) or not self.library_root.holds(entry.path)):
                        continue  # not a folder after all, or a link out of the root
                    sub_id = (st.st_dev, st.st_ino)
                    if sub_id in on_path:
                        continue  # a symlink (or bind mount) loop
                    grandchildren = self._list(sub, sort, report, reader, probing)
                    if grandchildren is not None:
                        stack.append((sub, iter(grandchildren), sub_id, grandchildren, sub_in_scope))
                        on_path.add(sub_id)
                        if probing and self.slow_share is not None:  # this listing decided
                            probing, reader = False, self._start_reading_ahead(after, entries, stack)
                        break  # descend; this folder's iterator resumes afterwards
                else:
                    stack.pop()
                    on_path.discard(folder_id)
        finally:
            if reader is not None:
                reader.close()

    def _start_reading_ahead(self, after: str, entries: bool, stack: list) -> ReadAhead | None:
        """Once the probe decided: on a slow share, read ahead from the folder just listed (the
        last on the stack), knowing what the folders on the stack hold; else nothing."""
        if not self.slow_share:
            return None
        reader = self._read_ahead(after, entries, position=stack[-1][0])
        for prefix, _, _, listing, _ in stack:
            reader.learn(prefix, listing)
        return reader

    def _read_ahead(self, after: str, entries: bool, *, position: str) -> ReadAhead:
        return ReadAhead(root=self.root, threads=self.threads, ahead=self.ahead, position=position,
                         list_folder=partial(list_folder, sort=True, inside_root=self.library_root.holds,
                                             by_name=not entries),
                         skip=partial(_skips, self.scope, after), stat_files=entries)

    def _list(self, prefix: str, sort: bool, report: bool, reader: ReadAhead | None, probing: bool) -> Listing | None:
        """The folder's listing (scanner/core/listing.py), timed when `probing`; None if it cannot be listed."""
        try:
            if reader is not None:
                return reader.take(prefix)
            path = os.path.join(self.root, prefix) if prefix else self.root
            if probing:  # the first listings are timed: then `slow_share` is decided
                listing, self.slow_share = self._probe.list(path, sort=sort, inside_root=self.library_root.holds)
                return listing
            return list_folder(path, sort=sort, inside_root=self.library_root.holds)
        except OSError as exc:
            if not prefix and isinstance(exc, FileNotFoundError):
                self.library_root.check()
                return []
            self._unreadable(prefix, exc, report)
            return None

    def _unreadable(self, prefix: str, error: OSError, report: bool) -> None:
        """A folder that could not be entered or listed: reported, unless it is gone (not listed
        any more by its parent), in which case its files are missing like any vanished file."""
        self.library_root.check()
        if report and not (isinstance(error, FileNotFoundError) and not self.library_root.still_listed(prefix)):
            self.on_dir_error(prefix, error)
