"""Waiting for what the reader processes (pool.py) read, and giving up what they cannot read.
No Django here.

With SCANNER_METADATA_WORKERS=0 tags are read in the scan thread (and a read that hangs there
cannot be stopped). On a slow share a read mostly waits for the network (a tagged file costs
some twenty round trips), so each reader then reads its chunk with SHARE_READ_THREADS threads:
the waits overlap, while on a local disk (one thread per reader) nothing changes.

A read can hang (a stuck NFS or FUSE read) or run on (a hostile file: a FLAC whose metadata is a
terabyte of padding), and nothing inside the reader can interrupt it. So each reader thread
notes in shared memory which file it is reading since when; whoever waits for results looks at
every pool with readers alive (its own, and pools retired or replaced with chunks in hand) and
kills a pool in which a file takes longer than SCANNER_READ_TIMEOUT. That file is counted failed
("timed out"); every chunk the dead pool held is read again by a new one. A reader that runs
on while nobody waits for it is stopped by its CPU limit (child.py), one that hangs by the next
wait in this process, or by the shutdown of the pool when no scan is left.

A hostile file (a header claiming gigabytes of EXIF, say) must not take the host's memory: each
reader's heap is capped at READER_MEMORY, so such a read fails with MemoryError and costs that
one file. A file that kills its reader outright (FFmpeg is C: a crash there is a crash of the
process; or its CPU limit) is found the same way as a hung one, by the slots: the files being
read when a reader died are counted failed and not read again in this scan, the rest of their
chunks are. Which reader died cannot be told from the slots, so files its fellow readers were in
the middle of fail with it: a full scan reads them again.
"""

from __future__ import annotations

import itertools
import logging
import signal
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from scanner.core.readers import pool
from scanner.core.readers.child import SHARE_READ_THREADS, cpu_limit, read_chunk
from scanner.core.readers.dispatch import Metadata, read_metadata
from scanner.core.readers.pool import ReaderPool

logger = logging.getLogger(__name__)
MIN_CHUNK = 8  # files per round trip to a worker process
POLL = 0.25  # seconds between looks for a hung read while waiting for a chunk
SUBMIT_ATTEMPTS = 3  # pools a chunk is given to before it is read in the scan thread

_chunk_ids = itertools.count(1)
_inflight: dict[int, list[str]] = {}  # chunk id -> its files, while a pool holds the chunk
# Files no reader is given again (their read hung, or their reader died on them), with the
# reason they fail, until this process has no scan left.
_given_up: dict[str, str] = {}


@dataclass
class _Chunk:
    paths: list[str]
    id: int = field(default_factory=lambda: next(_chunk_ids))
    future: Future | None = None  # None: read in the scan thread
    readers: ReaderPool | None = None


class PendingReads:
    """The metadata of a list of files, being read; `results()` waits for it."""

    def __init__(self, paths: list[str], workers: int, timeout: float = 30, *, threads: int = 1):
        self.workers = workers
        self.timeout = timeout
        self.threads = min(max(threads, 1), SHARE_READ_THREADS)  # per reader process
        size = max(MIN_CHUNK, -(-len(paths) // (max(workers, 1) * 2)))
        self._chunks = [self._submit(paths[start:start + size]) for start in range(0, len(paths), size)]

    def results(self) -> list[tuple[Metadata, str]]:
        results: list[tuple[Metadata, str]] = []
        for chunk in self._chunks:
            results.extend(self._wait(chunk))
        return results

    def cancel(self) -> None:
        for chunk in self._chunks:
            if chunk.future is not None:
                chunk.future.cancel()
            _inflight.pop(chunk.id, None)

    def _submit(self, paths: list[str]) -> _Chunk:
        chunk = _Chunk(paths)
        if self.workers <= 0:
            return chunk
        for _ in range(SUBMIT_ATTEMPTS):
            readers = pool.get_pool(self.workers)
            try:
                chunk.future = readers.submit(read_chunk, chunk.id, paths, self.threads, cpu_limit(self.timeout))
                chunk.readers = readers
                _inflight[chunk.id] = paths
                return chunk
            except (BrokenProcessPool, RuntimeError):  # a reader died, or the pool is shutting down
                pool.retire(readers)
        return chunk

    def _wait(self, chunk: _Chunk) -> list[tuple[Metadata, str]]:
        for _ in range(SUBMIT_ATTEMPTS):
            if chunk.future is None:
                break
            try:
                return self._result(chunk)
            except (BrokenProcessPool, CancelledError):
                # The pool was killed (a hung read, in this scan or another) or a reader died
                # (the OOM killer): read the chunk again in a new pool, but not a file that hung.
                logger.warning("tag reader pool replaced; reading a chunk again", extra={"action": "pool_broken"})
                if any(path in _given_up for path in chunk.paths):
                    return self._without(chunk.paths)
                chunk = self._submit(chunk.paths)
        return [read_metadata(path) for path in chunk.paths]  # no pool works: read here

    def _result(self, chunk: _Chunk) -> list[tuple[Metadata, str]]:
        assert chunk.future is not None and chunk.readers is not None
        try:
            while True:
                try:
                    return chunk.future.result(timeout=POLL)
                except FutureTimeout:
                    for readers in pool.watched_pools():
                        if (stuck := readers.hung(self.timeout)) is not None:
                            _kill_hung(readers, stuck, self.timeout)
                    pool.reap()
                    if chunk.readers.killed:  # the executor may be slow to say so, or not at all
                        raise BrokenProcessPool("a tag read hung") from None
        except BrokenProcessPool:
            if not chunk.readers.killed:  # a reader died by itself (a crash, the OOM killer, its CPU limit)
                _blame_crash(chunk.readers, cpu_limit(self.timeout))
            raise
        finally:
            _inflight.pop(chunk.id, None)

    def _without(self, paths: list[str]) -> list[tuple[Metadata, str]]:
        """Results for `paths`: those given up failed with their reason, the others read again."""
        given_up = {path: _given_up[path] for path in paths if path in _given_up}
        rest = [path for path in paths if path not in given_up]
        read = iter(self._wait(self._submit(rest)) if rest else [])
        return [({}, given_up[path]) if path in given_up else next(read) for path in paths]


def _kill_hung(readers: ReaderPool, stuck: tuple[int, int], timeout: float) -> None:
    """Kill the pool whose reader is stuck, remembering the file so nobody reads it again."""
    paths = _inflight.get(stuck[0])
    if paths is not None and stuck[1] < len(paths) and paths[stuck[1]] not in _given_up:
        _given_up[paths[stuck[1]]] = f"timed out after {timeout:g}s"
        logger.warning("tag read of %r timed out after %gs; killing its readers", paths[stuck[1]], timeout,
                       extra={"action": "read_timeout"})
    pool.retire(readers)
    readers.kill()


def _blame_crash(readers: ReaderPool, cpu_seconds: int) -> None:
    """The files its readers were reading when the pool broke by itself; then the rest of its
    readers are killed, not left to the executor (which asks them to end, and may not reap them)."""
    reason = (f"its reader process went past its CPU time limit ({cpu_seconds}s) reading it"
              if readers.ended_by(signal.SIGXCPU) else "its reader process died reading it")
    for chunk_id, index in readers.reading():
        paths = _inflight.get(chunk_id)
        if paths is not None and index < len(paths) and paths[index] not in _given_up:
            _given_up[paths[index]] = reason
            logger.warning("a reader died reading %r (%s); it will not be read again in this scan", paths[index],
                           reason, extra={"action": "reader_died"})
    pool.retire(readers)
    readers.kill()


def shutdown_pool() -> None:
    """Kill every reader process, and forget the files given up (the runtime calls this when no
    scan is left, and when it stops). They are killed, not waited for: what they still read
    nobody needs, and a read may hang."""
    pool.kill_all()
    _given_up.clear()
