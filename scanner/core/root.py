"""A library's root folder during a walk: still the same readable folder, and what lies inside
it. No Django here.

If the root disappears, is unmounted (its device changes) or becomes unreadable, RootUnavailable
stops the walk. Errors are never absences: only a listing that succeeded shows that something
is gone (`still_listed`).
"""

from __future__ import annotations

import os
import stat


class RootUnavailable(Exception):
    """The library root vanished, was unmounted or became unreadable."""


class LibraryRoot:
    def __init__(self, root: str):
        self.path = os.path.realpath(root)
        if self.path != os.path.abspath(root):
            # Library paths are stored resolved; a folder since replaced by a link would lead
            # the scan somewhere else.
            raise RootUnavailable(f"The library folder {root} is now a link to {self.path}; scans never follow it")
        self.id = self._stat()  # (device, inode)

    def _stat(self) -> tuple[int, int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise RootUnavailable(f"The library folder {self.path} is not available: {exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise RootUnavailable(f"The library folder {self.path} is not a folder any more")
        return st.st_dev, st.st_ino

    @property
    def device(self) -> int:
        return self.id[0]

    def check(self) -> None:
        """Raise RootUnavailable unless the root is still the same, readable folder."""
        if self._stat() != self.id:
            raise RootUnavailable(f"The library folder {self.path} was replaced or unmounted during the scan")
        try:
            with os.scandir(self.path) as it:
                next(it, None)
        except OSError as exc:
            raise RootUnavailable(f"The library folder {self.path} became unreadable: {exc.strerror}") from None

    def still_listed(self, rel: str) -> bool:
        """Whether the folder holding `rel` still lists it. An error is never evidence of absence:
        only a listing that succeeded and lacks the name is."""
        parent, _, name = rel.rstrip("/").rpartition("/")
        try:
            with os.scandir(os.path.join(self.path, parent) if parent else self.path) as it:
                return any(entry.name == name for entry in it)
        except OSError:
            return True

    def holds(self, path: str) -> bool:
        """Whether `path`, links resolved, lies inside the root."""
        target = os.path.realpath(path)
        return target == self.path or target.startswith(self.path + os.sep)
