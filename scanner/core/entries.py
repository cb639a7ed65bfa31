"""What the walk yields for each media file: its path, kind and stat, or why it cannot be
catalogued. No Django here.

A media file that cannot be stat'ed or typed, or whose name is not UTF-8, is yielded with `error`
set (counted failed, its row kept); it is gone only when its folder, listed again, no longer has
it (`LibraryRoot.still_listed`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from stat import S_ISREG

from scanner.core.root import LibraryRoot

MAX_PATH_BYTES = 2000  # longer relative paths cannot be indexed in the catalogue
INT64 = 2**63  # sizes and mtimes (ns) must fit the catalogue's 64-bit columns
NOT_UTF8 = "file name is not valid UTF-8"
VANISHED = "vanished during the scan"
TOO_LONG = "path is too long to catalogue"


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


def why_uncatalogable(path: str) -> str:
    """Empty string if `path` can be stored, else the reason it cannot."""
    if path.isascii():
        return "" if len(path) <= MAX_PATH_BYTES else TOO_LONG
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return NOT_UTF8
    return "" if size <= MAX_PATH_BYTES else TOO_LONG


def file_entry(root: LibraryRoot, entry: os.DirEntry, rel: str, kind: str, extension: str) -> FileEntry:
    """The entry of a media file with its stat, or with the reason it cannot be catalogued."""
    if problem := why_uncatalogable(rel):
        return FileEntry(rel, kind, extension, 0, 0, problem, problem == NOT_UTF8)
    try:
        st = entry.stat()
    except OSError as exc:
        root.check()
        gone = isinstance(exc, FileNotFoundError) and not root.still_listed(rel)
        return FileEntry(rel, kind, extension, 0, 0, VANISHED if gone else f"cannot be read: {exc.strerror}")
    size, mtime_ns, inode, device = st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
    error = ""
    if not (-INT64 < mtime_ns < INT64 and size < INT64):
        error = "its modification time or size is out of range"
    if not S_ISREG(st.st_mode):
        error = "not a regular file"  # a folder named like a film, seen through an unknown type
    if inode < INT64 and device < INT64:  # 64-bit unsigned on some file systems
        return FileEntry(rel, kind, extension, size, mtime_ns, error, False, inode, device)
    return FileEntry(rel, kind, extension, size, mtime_ns, error)
