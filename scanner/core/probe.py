"""Whether a library root lies on a slow share, where the walk reads ahead (DESIGN.md section 9).
No Django here.

The walk times its first folder listings (`ShareProbe.list`). Only the readdir is timed: it is
the one call that always goes to the share. A stat may not: without d_type in the listing, the
listing's own classification stats every entry and `os.DirEntry` caches the result, and a
network file system's kernel client caches attributes too, so a folder's stat taken after its
parent's listing costs microseconds even on a share that answers in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scanner.core.listing import Listing, classify, read_folder

PROBE_FOLDERS = 3  # folder listings timed before deciding whether the walk reads ahead
# Seconds: a median listing slower than this, beyond LOCAL_ENTRY per entry it holds, went to a
# share over the network (a round trip is 0.3 ms or more); a local readdir takes about 1 µs an entry.
SLOW_LISTING = 100e-6
LOCAL_ENTRY = 2e-6
_slow_roots: dict[str, bool] = {}  # what this process found for each library root (a resume needs no probe)


def known(root: str) -> bool | None:
    """What an earlier walk of this process found for the root; None if none was timed."""
    return _slow_roots.get(root)


class ShareProbe:
    """Times the first PROBE_FOLDERS listings of a walk of `root`, then decides `slow`."""

    def __init__(self, root: str):
        self.root = root
        self.samples: list[float] = []  # seconds each listing took beyond what a local disk takes
        self.slow: bool | None = None  # None until decided

    def list(self, path: str, *, sort: bool, inside_root: Callable[[str], bool]) -> tuple[Listing, bool | None]:
        """The folder's listing (listing.list_folder), its readdir timed, and `slow` after it."""
        started = time.perf_counter()
        raw = read_folder(path)
        self.samples.append(time.perf_counter() - started - len(raw) * LOCAL_ENTRY)
        if self.slow is None and len(self.samples) >= PROBE_FOLDERS:
            median = sorted(self.samples)[len(self.samples) // 2]
            self.slow = _slow_roots[self.root] = median > SLOW_LISTING
        return classify(raw, sort=sort, inside_root=inside_root), self.slow
