"""One folder's listing, classified and sorted for the walk (scanner/core/walk.py). No Django here.

Media files are told by their extension (scanner/core/extensions.py); folders sort with a '/' appended
to their name, which puts the walk in plain string order. Hidden entries and the folders NAS
systems and operating systems put in shares are left out; so are symlinks whose target lies
outside the library. Types come from the listing itself (d_type) where the file system gives
them, so listing a folder costs no stat per entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from operator import itemgetter

from scanner.core.extensions import KIND_BY_EXTENSION

# Folders that NAS systems and operating systems put in shares; never media.
SYSTEM_FOLDERS = frozenset(
    {"@eaDir", "@Recycle", "@Recently-Snapshot", "#recycle", "#snapshot", "$RECYCLE.BIN",
     "System Volume Information", "lost+found", "RECYCLER", "Thumbs", "@tmp"}
)
UNTYPED = ("", "")  # an entry whose type could not be told: the walk looks at it again, in order

# Each entry with what it is: a folder (None), a media file ((kind, extension)) or UNTYPED.
Listing = list[tuple[os.DirEntry, tuple[str, str] | None]]


def list_folder(path: str, *, sort: bool, inside_root: Callable[[str], bool], by_name: bool = False,
                on_read: Callable[[list[os.DirEntry]], None] | None = None) -> Listing:
    """The folder's sub-folders and media files, in walk order when `sort`; OSError if the
    folder cannot be listed. `on_read` sees the raw listing before it is classified."""
    raw = read_folder(path)
    if on_read is not None:
        on_read(raw)
    return classify(raw, sort=sort, inside_root=inside_root, by_name=by_name)


def read_folder(path: str) -> list[os.DirEntry]:
    """The folder's raw listing (readdir only: what a share always answers itself); OSError
    if the folder cannot be listed."""
    with os.scandir(path) as it:
        return list(it)


def classify(entries: list[os.DirEntry], *, sort: bool, inside_root: Callable[[str], bool],
             by_name: bool = False) -> Listing:
    """The listing of `list_folder` from the raw one. Where the listing gave no types (d_type),
    this makes one stat per entry (cached by the entry): on a share, one round trip each. With
    `by_name`, a name with a media extension is taken for a media file without asking its type
    (a count's estimate: it costs no stat where the listing gives no types)."""
    keyed: list[tuple[str, os.DirEntry[str], tuple[str, str] | None]] = []
    kinds = KIND_BY_EXTENSION
    for entry in entries:  # the hot loop of every scan: classify inline, d_type checks only
        name = entry.name
        if name[0] == "." or name in SYSTEM_FOLDERS:
            continue
        dot = name.rfind(".")
        extension = name[dot + 1 :].lower() if dot > 0 else ""
        kind = kinds.get(extension)
        if kind is not None and by_name:
            keyed.append((name, entry, (kind, extension)))
            continue
        try:
            if entry.is_symlink() and not inside_root(entry.path):
                continue
            if kind is not None and entry.is_file():
                keyed.append((name, entry, (kind, extension)))
            elif entry.is_dir():
                keyed.append((name + "/", entry, None))
            else:  # a special file or a dangling link; or, without d_type, a name whose stat
                entry.stat(follow_symlinks=False)  # fails with ENOENT, which is_file() hides: raised here
        except OSError:  # listed, but its type cannot be told (no d_type, and stat fails)
            if kind is not None:
                keyed.append((name, entry, (kind, extension)))  # yielded failed: its stat fails too
            else:  # perhaps a folder: looked at again in walk order, its error reported there
                keyed.append((name + "/", entry, UNTYPED))
    if sort:
        keyed.sort(key=itemgetter(0))
    return [(entry, media) for _, entry, media in keyed]
