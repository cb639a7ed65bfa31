"""The discovery pass of a scan: how many media files it will see, before it starts on them.

A resumed scan keeps the count made when it started, so a resume on a slow share does not list
it all again first. It stays honest: the percentage never goes back (at most 99.9 until the end)
and the final commit sets the count to what was walked (scanner/core/progress.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from scanner.core import words
from scanner.core.batching import Stopped
from scanner.core.progress import Progress
from scanner.core.readers import READ_EXTENSIONS
from scanner.core.walk import Walker
from scanner.engine.commit import Committer
from scanner.models import ScanJob

FOUND_UPDATE_INTERVAL = 1.0  # seconds between discovery-count updates of the job row


def discover(walker: Walker, *, progress: Progress, committer: Committer, stop: threading.Event,
             reads_all: bool, expect_reads: Callable[[], None]) -> None:
    """Count the files (or keep a resumed scan's count), writing it to the job as it grows.
    `expect_reads` starts the readers early, on a slow share where every file will be read."""
    if progress.checkpoint and progress.found:
        committer.write_job(phase=ScanJob.Phase.SCANNING,
                            status_message=f"Resuming after {progress.processed:,} of "
                                           f"{words.count(progress.found, 'file')}")
        return
    committer.write_job(phase=ScanJob.Phase.DISCOVERING, status_message="Counting the media files")
    last_write = time.monotonic()

    def on_progress(count: int) -> None:
        nonlocal last_write
        if time.monotonic() - last_write >= FOUND_UPDATE_INTERVAL:
            committer.write_job(files_found=progress.discovered(count))
            last_write = time.monotonic()

    # When every file will be read, on a slow share (where the first batch is long to walk) the
    # readers start as soon as the count sees one to read. Elsewhere they start when a batch needs them.
    def start_readers() -> bool:
        if walker.slow_share is None:
            return False  # not timed yet: ask again at the next file
        if walker.slow_share:
            expect_reads()
        return True

    count = walker.count(should_stop=stop.is_set, on_progress=on_progress,
                         notice=READ_EXTENSIONS if reads_all else frozenset(), on_notice=start_readers)
    if count is None:
        raise Stopped
    found = progress.discovered(count, final=True)
    committer.write_job(files_found=found, phase=ScanJob.Phase.SCANNING,
                        status_message=f"Scanning {words.count(found, 'file')}")
