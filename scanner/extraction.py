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
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
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
        self._chunks: list[tuple[list[str], Future | None]] = []  # None: read here, in results()
        if workers <= 0 or not paths:
            self._chunks = [(paths, None)]
            return
        size = max(MIN_CHUNK, -(-len(paths) // (workers * 2)))
        chunks = [paths[start : start + size] for start in range(0, len(paths), size)]
        for _ in range(2):
            pool = _get_pool(workers)
            try:
                self._chunks = [(chunk, pool.submit(read_many, chunk)) for chunk in chunks]
                return
            except (BrokenProcessPool, RuntimeError):  # a worker died, or the pool is shutting down
                self.cancel()
                _discard_pool(pool)
        self._chunks = [(chunk, None) for chunk in chunks]

    def results(self) -> list[tuple[Metadata, str]]:
        results: list[tuple[Metadata, str]] = []
        for chunk, future in self._chunks:
            if future is not None:
                try:
                    results.extend(future.result())
                    continue
                except (BrokenProcessPool, CancelledError):
                    # A reader died (OOM killer, a crashing C extension): read these here.
                    logger.warning("tag reader process died; reading in the scan thread",
                                   extra={"action": "pool_broken"})
            results.extend(read_many(chunk))
        return results

    def cancel(self) -> None:
        for _, future in self._chunks:
            if future is not None:
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


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    """Drop a broken pool, unless another scan already replaced it."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pool() -> None:
    """Stop the worker processes (the runtime calls this when no scan is left)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
