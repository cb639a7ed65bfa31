"""Reading media files (tags, streams, photo facts: dispatch.py) off the committing thread, on
the cores the scan thread does not use.

mutagen is pure Python, so threads would share one core; a process pool (spawned, never
forked from a threaded server) reads chunks of files while the scan thread walks and commits.
One pool per process, shared by its scans, started on first use and shut down when the
process has no scan left. With SCANNER_METADATA_WORKERS=0 tags are read in the scan thread
(and a read that hangs there cannot be stopped).

On a slow share a read mostly waits for the network (a tagged file costs some twenty round
trips), so each reader then reads its chunk with SHARE_READ_THREADS threads: the waits overlap,
while on a local disk (one thread per reader) nothing changes.

A read can hang (a stuck NFS or FUSE read), and nothing inside the reader can interrupt it.
So each reader thread notes in shared memory which file it is reading since when; whoever
waits for results and sees a file taking longer than SCANNER_READ_TIMEOUT kills the pool. That
file is counted failed ("timed out"); every chunk the dead pool held is read again by a new one.

A hostile file (a header claiming gigabytes of EXIF, say) must not take the host's memory: each
reader's heap is capped at READER_MEMORY (RLIMIT_DATA), so such a read fails with MemoryError
and costs that one file. A file that kills its reader outright (FFmpeg is C: a crash there is a
crash of the process) is found the same way as a hung one, by the slots: the files being read
when a reader died are counted failed and not read again in this scan, the rest of their chunks
are. Which reader died cannot be told from here (the pool then ends the others too), so files
its fellow readers were in the middle of fail with it: a full scan reads them again.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import MutableSequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from scanner.core.readers.dispatch import Metadata, read_many, read_metadata

logger = logging.getLogger(__name__)
MIN_CHUNK = 8  # files per round trip to a worker process
POLL = 0.25  # seconds between looks for a hung read while waiting for a chunk
SUBMIT_ATTEMPTS = 3  # pools a chunk is given to before it is read in the scan thread
SLOT = 3  # shared floats per reader thread: since when (monotonic), chunk id, index in the chunk
SHARE_READ_THREADS = 8  # threads per reader process on a slow share (bench/RESULTS.md, "slow share")
READER_MEMORY = 1 << 30  # bytes of heap per reader process; a reader at rest holds about 60 MB

_lock = threading.Lock()
_pool: _Readers | None = None
_chunk_ids = itertools.count(1)
_inflight: dict[int, list[str]] = {}  # chunk id -> its files, while a pool holds the chunk
# Files no reader is given again (their read hung, or their reader died on them), with the
# reason they fail, until this process has no scan left.
_given_up: dict[str, str] = {}
_killed: list = []  # reader processes killed and not reaped yet
# In a reader process only, set by _start_reader: the pool's shared slots and where this reader's begin.
_slots: MutableSequence[float]
_base: int


class _Readers:
    """A process pool whose readers say what they are reading (see _read_chunk)."""

    def __init__(self, workers: int):
        context = multiprocessing.get_context("spawn")
        self.workers = workers
        self.killed = False  # by us (a hung read, shutdown): its readers' deaths blame no file
        # One writer per slot (a reader's thread): no lock.
        self.slots = context.Array("d", workers * SHARE_READ_THREADS * SLOT, lock=False)
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_reader,
                                            initargs=(self.slots, context.Value("i", 0), READER_MEMORY))

    def hung(self, timeout: float) -> tuple[int, int] | None:
        """(chunk id, index) of a file read for longer than `timeout`, if any."""
        now = time.monotonic()
        for base in range(0, len(self.slots), SLOT):
            since = self.slots[base]
            if since and now - since > timeout:
                return int(self.slots[base + 1]), int(self.slots[base + 2])
        return None

    def reading(self) -> list[tuple[int, int]]:
        """(chunk id, index) of each file a reader thread is in the middle of."""
        return [(int(self.slots[base + 1]), int(self.slots[base + 2]))
                for base in range(0, len(self.slots), SLOT) if self.slots[base]]

    def kill(self) -> None:
        """Kill the readers. One stuck in a FUSE call that its file system never answers stays
        (state D) until it is answered; it is reaped later, by _reap."""
        self.killed = True
        processes = list((self.executor._processes or {}).values())  # no public API kills a reader
        for process in processes:
            assert process.pid is not None  # the pool keeps only started processes (keyed by their pid)
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)
        _killed.extend(processes)


@dataclass
class _Chunk:
    paths: list[str]
    id: int = field(default_factory=lambda: next(_chunk_ids))
    future: Future | None = None  # None: read in the scan thread
    readers: _Readers | None = None


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
            readers = _get_pool(self.workers)
            try:
                chunk.future = readers.executor.submit(_read_chunk, chunk.id, paths, self.threads)
                chunk.readers = readers
                _inflight[chunk.id] = paths
                return chunk
            except (BrokenProcessPool, RuntimeError):  # a reader died, or the pool is shutting down
                _discard_pool(readers)
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
                    stuck = chunk.readers.hung(self.timeout)
                    if stuck is not None:
                        # The stuck reader may outlive its kill, and its pool's futures with it.
                        _kill_hung(chunk.readers, stuck, self.timeout)
                        raise BrokenProcessPool("a tag read hung") from None
        except BrokenProcessPool:
            if not chunk.readers.killed:  # a reader died by itself (a crash, the OOM killer)
                _blame_crash(chunk.readers)
            raise
        finally:
            _inflight.pop(chunk.id, None)

    def _without(self, paths: list[str]) -> list[tuple[Metadata, str]]:
        """Results for `paths`: those given up failed with their reason, the others read again."""
        given_up = {path: _given_up[path] for path in paths if path in _given_up}
        rest = [path for path in paths if path not in given_up]
        read = iter(self._wait(self._submit(rest)) if rest else [])
        return [({}, given_up[path]) if path in given_up else next(read) for path in paths]


def _kill_hung(readers: _Readers, stuck: tuple[int, int], timeout: float) -> None:
    """Replace the pool whose reader is stuck, remembering the file so nobody reads it again."""
    paths = _inflight.get(stuck[0])
    if paths is not None and stuck[1] < len(paths) and paths[stuck[1]] not in _given_up:
        _given_up[paths[stuck[1]]] = f"timed out after {timeout:g}s"
        logger.warning("tag read of %r timed out after %gs; replacing the readers", paths[stuck[1]], timeout,
                       extra={"action": "read_timeout"})
    _discard_pool(readers)
    readers.kill()


def _blame_crash(readers: _Readers) -> None:
    """The files its readers were reading when the pool broke by itself."""
    for chunk_id, index in readers.reading():
        paths = _inflight.get(chunk_id)
        if paths is not None and index < len(paths) and paths[index] not in _given_up:
            _given_up[paths[index]] = "its reader process died reading it"
            logger.warning("a reader died reading %r; it will not be read again in this scan", paths[index],
                           extra={"action": "reader_died"})


def _start_reader(slots, counter, memory: int) -> None:
    global _slots, _base
    # Ctrl-C reaches the whole foreground process group; the scan (not its helpers) decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    resource.setrlimit(resource.RLIMIT_DATA, (memory if hard == resource.RLIM_INFINITY else min(memory, hard), hard))
    with counter.get_lock():
        _base, counter.value = counter.value * SHARE_READ_THREADS * SLOT, counter.value + 1
    _slots = slots


def _read_chunk(chunk_id: int, paths: list[str], threads: int) -> list[tuple[Metadata, str]]:
    """In a reader process: each file, with what each thread is reading noted in its slot."""
    results: list[list[tuple[Metadata, str]]] = [[] for _ in paths]

    def read(thread: int) -> None:
        slot = _base + thread * SLOT
        for index in range(thread, len(paths), threads):
            _slots[slot + 1], _slots[slot + 2] = chunk_id, index
            _slots[slot] = time.monotonic()
            results[index] = read_many([paths[index]])
            _slots[slot] = 0

    if threads == 1:
        read(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(read, range(threads)))
    return [result for part in results for result in part]


def start_readers(workers: int) -> None:
    """Start the reader processes now, in the background, for reads known to come: a reader's
    start (a spawned interpreter importing mutagen) then overlaps the walk instead of the first
    batch's wait. A no-op task per reader makes the pool spawn each of them."""
    if workers <= 0:
        return
    readers = _get_pool(workers)
    try:
        for _ in range(workers):
            readers.executor.submit(_ready)
    except (BrokenProcessPool, RuntimeError):  # the first batch's submit replaces the pool
        _discard_pool(readers)


def _ready() -> None:
    """Nothing: unpickling it in a reader has imported this module and mutagen."""


def _get_pool(workers: int) -> _Readers:
    global _pool
    _reap()
    with _lock:
        if _pool is None or _pool.workers != workers:
            if _pool is not None:
                _pool.executor.shutdown(wait=False, cancel_futures=False)
            _pool = _Readers(workers)
        return _pool


def _discard_pool(readers: _Readers) -> None:
    """Drop a broken pool, unless another scan already replaced it."""
    global _pool
    with _lock:
        if _pool is readers:
            _pool = None
    readers.executor.shutdown(wait=False, cancel_futures=True)


def _reap() -> None:
    """Collect killed readers that have exited; nothing else here would (no init reaps them)."""
    with _lock:
        for process in list(_killed):
            process.join(0)
            if process.exitcode is not None:
                _killed.remove(process)


def shutdown_pool() -> None:
    """Stop the reader processes (the runtime calls this when no scan is left). They are killed,
    not waited for: what they still read nobody needs, and a read may hang."""
    global _pool
    _reap()
    with _lock:
        readers, _pool = _pool, None
        _given_up.clear()
    if readers is not None:
        readers.kill()
