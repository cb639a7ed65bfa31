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
failed, row kept). Only FileNotFoundError, for what a listing showed a moment ago, means gone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter

VIDEO_EXTENSIONS = frozenset(
    "mkv mp4 m4v avi mov wmv webm ts m2ts mts mpg mpeg mpe vob flv ogv 3gp divx asf rm rmvb".split()
)
AUDIO_EXTENSIONS = frozenset(
    "mp3 flac m4a m4b aac ogg oga opus wav aif aiff wma ape wv mpc alac dsf dff mka spx".split()
)
IMAGE_EXTENSIONS = frozenset("jpg jpeg png webp gif heic heif avif bmp tif tiff".split())
KIND_BY_EXTENSION = {
    **{ext: "video" for ext in VIDEO_EXTENSIONS},
    **{ext: "audio" for ext in AUDIO_EXTENSIONS},
    **{ext: "image" for ext in IMAGE_EXTENSIONS},
}

# Folders that NAS systems and operating systems put in shares; never media.
SYSTEM_FOLDERS = frozenset(
    {"@eaDir", "@Recycle", "@Recently-Snapshot", "#recycle", "#snapshot", "$RECYCLE.BIN",
     "System Volume Information", "lost+found", "RECYCLER", "Thumbs", "@tmp"}
)
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

    @property
    def can_end_a_run(self) -> bool:
        """Whether its path can be stored as the checkpoint."""
        return not self.bad_name


NOT_UTF8 = "file name is not valid UTF-8"
VANISHED = "vanished during the scan"
TOO_LONG = "path is too long to catalogue"


def is_catalogable(path: str) -> str:
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
    ):
        self.root = os.path.realpath(root)
        if self.root != os.path.abspath(root):
            # Library paths are stored resolved; a folder since replaced by a link would lead
            # the scan somewhere else.
            raise RootUnavailable(f"The library folder {root} is now a link to {self.root}; scans never follow it")
        self.after = after
        self.on_dir_error = on_dir_error or (lambda path, error: None)
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
              on_progress: Callable[[int], None] = lambda n: None) -> int | None:
        """How many media files the walk will see (all of them, not only after the
        checkpoint); None if `should_stop` said so. No sorting and no stat: it is cheap."""
        count = 0
        for _ in self._media(sort=False, after="", report=False, entries=False):
            count += 1
            if count % every == 0:
                if should_stop():
                    return None
                on_progress(count)
        return count

    def _media(self, *, sort: bool, after: str, report: bool, entries: bool) -> Iterator:
        """Each media file, depth first: a FileEntry (with its stat) when `entries`, else its
        relative path. Folders that cannot be read go to on_dir_error when `report`."""
        root_entries = self._list("", sort, report)
        if root_entries is None:
            self.check_root()
            raise RootUnavailable(f"The library folder {self.root} cannot be read")
        self.root_was_empty = not root_entries
        # The current folder and its ancestors: (relative prefix, children left, (dev, ino)).
        stack = [("", iter(root_entries), self._root_id)]
        on_path = {self._root_id}
        while stack:
            prefix, children, folder_id = stack[-1]
            for entry, media in children:
                rel = prefix + entry.name
                if media is not None:
                    if not after or rel > after:
                        yield _file_entry(entry, rel, *media, self.check_root) if entries else rel
                    continue
                sub = rel + "/"
                if after and sub <= after and not after.startswith(sub):
                    continue  # the whole folder lies before the checkpoint
                try:
                    st = entry.stat()
                except OSError as exc:  # vanished since the listing, or cannot be entered
                    self.check_root()
                    if report:
                        self.on_dir_error(sub, exc)
                    continue
                sub_id = (st.st_dev, st.st_ino)
                if sub_id in on_path:
                    continue  # a symlink (or bind mount) loop
                grandchildren = self._list(sub, sort, report)
                if grandchildren is not None:
                    stack.append((sub, iter(grandchildren), sub_id))
                    on_path.add(sub_id)
                    break  # descend; this folder's iterator resumes afterwards
            else:
                stack.pop()
                on_path.discard(folder_id)

    def _list(self, prefix: str, sort: bool, report: bool) -> list[tuple[os.DirEntry, tuple[str, str] | None]] | None:
        """The folder's sub-folders (None) and media files ((kind, extension)), in walk order
        when `sort`. None if the folder cannot be listed."""
        path = os.path.join(self.root, prefix) if prefix else self.root
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except FileNotFoundError as exc:
            self.check_root()
            if prefix and report:
                self.on_dir_error(prefix, exc)  # vanished: its files are gone, not unreadable
            return None if prefix else []
        except OSError as exc:
            self.check_root()
            if report:
                self.on_dir_error(prefix, exc)
            return None
        keyed: list[tuple[str, os.DirEntry[str], tuple[str, str] | None]] = []
        kinds = KIND_BY_EXTENSION
        for entry in entries:  # the hot loop of every scan: classify inline, d_type checks only
            name = entry.name
            if name[0] == "." or name in SYSTEM_FOLDERS:
                continue
            dot = name.rfind(".")
            extension = name[dot + 1 :].lower() if dot > 0 else ""
            kind = kinds.get(extension)
            try:
                if entry.is_symlink() and not self._inside_root(entry.path):
                    continue
                if kind is not None and entry.is_file():
                    keyed.append((name, entry, (kind, extension)))
                elif entry.is_dir():
                    keyed.append((name + "/", entry, None))
            except OSError as exc:  # listed, but its type cannot be told (no d_type, and stat fails)
                if kind is not None:
                    keyed.append((name, entry, (kind, extension)))  # yielded failed: its stat fails too
                elif report:
                    self.on_dir_error(prefix + name + "/", exc)  # perhaps a folder: keep what it held
        if sort:
            keyed.sort(key=itemgetter(0))
        return [(entry, media) for _, entry, media in keyed]

    def _inside_root(self, path: str) -> bool:
        target = os.path.realpath(path)
        return target == self.root or target.startswith(self.root + os.sep)


def _file_entry(entry: os.DirEntry, rel: str, kind: str, extension: str,
                check_root: Callable[[], None]) -> FileEntry:
    """The entry of a media file with its stat, or with the reason it cannot be catalogued."""
    problem = is_catalogable(rel)
    item = FileEntry(rel, kind, extension, 0, 0, problem, problem == NOT_UTF8)
    if not problem:
        try:
            st = entry.stat()
            item.size, item.mtime_ns = st.st_size, st.st_mtime_ns
            if not (-INT64 < st.st_mtime_ns < INT64 and st.st_size < INT64):
                item.error = "its modification time or size is out of range"
            if not stat.S_ISREG(st.st_mode):
                item.error = "not a regular file"  # a folder named like a film, seen through an unknown type
        except FileNotFoundError:
            check_root()
            item.error = VANISHED
        except OSError as exc:
            check_root()
            item.error = f"cannot be read: {exc.strerror}"
    return item
