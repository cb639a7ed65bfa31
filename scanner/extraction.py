"""Tag reading off the committing thread, on the cores the scan thread does not use.

mutagen is pure Python, so threads would share one core; a process pool (spawned, never
forked from a threaded server) reads chunks of files while the scan thread walks and commits.
One pool per process, shared by its scans, started on first use and shut down when the
process has no scan left. With SCANNER_METADATA_WORKERS=0 tags are read in the scan thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from scanner.metadata import Metadata, read_many

logger = logging.getLogger(__name__)
MIN_CHUNK = 8  # files per round trip to a worker process

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


class PendingReads:
    """The metadata of a list of files, being read; `results()` waits for it."""

    def __init__(self, paths: list[str], workers: int):
        self.paths = paths
        self._futures: list[tuple[list[str], Future]] = []
        self._inline: list[tuple[Metadata, str]] | None = None
        if not paths:
            self._inline = []
        elif workers <= 0:
            self._inline = read_many(paths)
        else:
            pool = _get_pool(workers)
            size = max(MIN_CHUNK, -(-len(paths) // (workers * 2)))
            for start in range(0, len(paths), size):
                chunk = paths[start : start + size]
                self._futures.append((chunk, pool.submit(read_many, chunk)))

    def results(self) -> list[tuple[Metadata, str]]:
        if self._inline is not None:
            return self._inline
        results: list[tuple[Metadata, str]] = []
        for chunk, future in self._futures:
            try:
                results.extend(future.result())
            except BrokenProcessPool:
                # A worker died (OOM killer, a crashing C extension): read here instead.
                logger.warning("tag reader process died; reading in the scan thread", extra={"action": "pool_broken"})
                _discard_pool()
                results.extend(read_many(chunk))
        return results

    def cancel(self) -> None:
        for _, future in self._futures:
            future.cancel()


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=False)
            _pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
            )
            _pool_size = workers
        return _pool


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole foreground process group; the scan (not its helpers) decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _discard_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


def shutdown_pool() -> None:
    """Stop the worker processes (the runtime calls this when no scan is left)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
