"""What a targeted scan covers: a few paths of a library, each a file or a folder's subtree
(DESIGN.md 8). No Django here.

A scope is a sorted list of relative paths, none inside another (`collapse`); the empty scope
is the whole library. The walk enters only the folders that lead to a scope path or lie in
one, in the same sorted order as a whole walk, so the checkpoint works as before. The
catalogue rows a scope path covers are the path itself (a file) and those under `path/` (a
folder): two ranges of the walk's string order, `segments`, compared and marked missing
separately, so that nothing between them is ever touched.
"""

from __future__ import annotations

import posixpath
from bisect import bisect_right

MAX_PATHS = 1000  # scope paths of one scan; more in one request is refused, more changes become a whole scan


class ScopeError(ValueError):
    """A path that cannot be in a scope; the message names it and says why."""


def relative(path: str, root: str) -> str:
    """`path` (relative to `root`, or absolute inside it) as a clean relative path; '' is the
    root itself. Raises ScopeError for a path outside the root or climbing out of it."""
    if not isinstance(path, str) or not path.strip():
        raise ScopeError("A path must be a non-empty string.")
    if "\x00" in path:
        raise ScopeError(f"The path {path!r} contains a NUL character.")
    if path.startswith("/"):
        root = root.rstrip("/")
        clean = posixpath.normpath(path)
        if clean != root and not clean.startswith(root + "/"):
            raise ScopeError(f"The path {path} is not inside the library folder {root}.")
        if ".." in path.split("/"):
            raise ScopeError(f"The path {path} contains '..'.")
        return clean[len(root) + 1:]
    if ".." in path.split("/"):
        raise ScopeError(f"The path {path!r} contains '..'; give paths inside the library.")
    clean = posixpath.normpath(path)
    return "" if clean == "." else clean


def collapse(paths: list[str]) -> list[str]:
    """Sorted, without paths inside another one; [] if one of them is the root ('')."""
    if "" in paths:
        return []
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: p + "/"):  # a folder's subtree sorts right after it
        if not kept or not path.startswith(kept[-1] + "/"):
            kept.append(path)
    return sorted(kept)


def describe_scope(paths: list[str], *, shown: int = 3) -> str:
    """'Artist/Album', or '3 paths (a, b, c)', or '1,200 paths (a, b, c, ...)'."""
    if len(paths) == 1:
        return paths[0]
    listed = ", ".join(paths[:shown]) + (", ..." if len(paths) > shown else "")
    return f"{len(paths):,} paths ({listed})"


class Scope:
    """The walk's and the catalogue's view of a scope (a collapsed list of paths)."""

    def __init__(self, paths: list[str]):
        self.paths = tuple(paths)
        self._items = frozenset(paths)
        self._ancestors = frozenset(path[:i + 1] for path in paths for i, c in enumerate(path) if c == "/")
        # ("a", exact), ("a/", prefix): each scope path's two ranges, in string order.
        self._segments = sorted([*paths, *(path + "/" for path in paths)])

    def __bool__(self) -> bool:
        return bool(self.paths)

    def holds(self, rel: str) -> bool:
        """Whether the file `rel` (not in a folder already known to be in scope) is covered."""
        if rel in self._items:
            return True
        slash = rel.find("/")
        while slash != -1:
            if rel[:slash] in self._items:
                return True
            slash = rel.find("/", slash + 1)
        return False

    def leads_to(self, folder: str) -> bool:
        """Whether the folder ('a/b/') holds a scope path below it: the walk lists it."""
        return folder in self._ancestors

    def segments(self) -> list[tuple[str, str | None]]:
        """Each covered range of catalogue paths: (path, None) for exactly that path, or
        (prefix, end) for `prefix <= path < end`, in string order."""
        return [(seg, seg[:-1] + "0") if seg.endswith("/") else (seg, None) for seg in self._segments]

    def segment_of(self, rel: str) -> int:
        """Which segment holds `rel` (the index in segments()); two unseen rows can be marked
        as one range only when they lie in the same segment."""
        return bisect_right(self._segments, rel)
