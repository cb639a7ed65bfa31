"""The reader processes of this server process, where media files are read (dispatch.py) off the
committing thread, on the cores the scan thread does not use. What runs inside a reader is in
child.py; waiting for what they read, with the watchdog for hung reads, in pending.py.

mutagen is pure Python, so threads would share one core; a process pool (spawned, never
forked from a threaded server) reads chunks of files while the scan thread walks and commits.
One pool per process, shared by its scans, started on first use and shut down when the
process has no scan left.

Every reader a pool starts is on the pool's own record from its start: the executor makes its
processes through a multiprocessing context that notes each one. A ProcessPoolExecutor forgets
its processes when it shuts down, and a broken pool is shut down first thing, so only this
record lets a reader be killed whatever became of its executor. A pool stays in `_pools`,
watched and killable, until each of its readers has been reaped (in a container without an
init, nothing else would reap them).

Readers are started from one long-lived thread (`_spawner`): the kernel's parent-death signal
(child.py) comes when the *thread* that started a process ends, and a scan thread, whose chunk
may be the one that starts a reader, ends with its scan while other scans still use the pool.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.process import BaseProcess

from scanner.core import procinfo
from scanner.core.readers import child
from scanner.core.readers.child import SHARE_READ_THREADS, SLOT

READER_MEMORY = 1 << 30  # bytes of heap per reader process; a reader at rest holds about 60 MB

_lock = threading.Lock()
_pool: ReaderPool | None = None
_pools: list[ReaderPool] = []  # every pool with a reader not yet reaped, the current one included
_spawners: dict[int, ThreadPoolExecutor] = {}  # by process id: a forked child needs its own thread


class _RecordingContext(SpawnContext):
    """multiprocessing's spawn context, noting each process it makes on `record`."""

    def __init__(self, record: list[BaseProcess]) -> None:
        super().__init__()
        self._record = record

    def Process(self, *args, **kwargs) -> SpawnProcess:  # type: ignore[override]  # how the executor makes a reader
        process = SpawnProcess(*args, **kwargs)
        self._record.append(process)
        return process


class ReaderPool:
    """A process pool whose readers say what they are reading (child.read_chunk)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.killed = False  # by us (a hung read, a broken pool, shutdown): its readers' deaths blame no file
        self._made: list[BaseProcess] = []
        self._start_ticks: dict[int, int] = {}  # by pid: a pid reused by a stranger is not a reader
        context = _RecordingContext(self._made)
        # One writer per slot (a reader's thread): no lock.
        self.slots = context.Array("d", workers * SHARE_READ_THREADS * SLOT, lock=False)
        self.executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=child.start_reader,
            initargs=(self.slots, context.Value("i", 0), READER_MEMORY, os.getpid()))

    def submit(self, fn, *args) -> Future:
        """executor.submit, from the spawner thread: a reader it starts has that thread for parent."""
        future = _spawner().submit(self.executor.submit, fn, *args).result()
        for process in self.processes():
            if process.pid not in self._start_ticks:
                assert process.pid is not None
                self._start_ticks[process.pid] = procinfo.process_start_ticks(process.pid)
        return future

    def processes(self) -> list[BaseProcess]:
        """Every reader this pool has started, ended or not."""
        return [process for process in list(self._made) if process.pid is not None]

    def alive(self, process: BaseProcess) -> bool:
        """Whether a reader of this pool is alive. A zombie is reaped here; one that something
        else reaped (its exit code then stays unknown) is ended too, and its pid not ours."""
        assert process.pid is not None
        return process.exitcode is None and procinfo.is_alive(process.pid, self._start_ticks.get(process.pid, 0))

    def hung(self, timeout: float) -> tuple[int, int] | None:
        """(chunk id, index) of a file read for longer than `timeout`, if any. None when a reader
        has died: its slot is stale, and whoever waits on the pool learns it broke."""
        if self.killed or any(process.exitcode not in (None, 0) for process in self.processes()):
            return None
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
        """SIGKILL every reader, whatever the executor's state. One stuck in a FUSE call that its
        file system never answers dies when the call is answered; it is reaped later (reap)."""
        self.killed = True
        self.executor.shutdown(wait=False, cancel_futures=True)  # it starts no reader from here on
        for process in self.processes():
            if self.alive(process):
                process.kill()

    def ended(self) -> bool:
        """Whether every reader has ended, and been reaped (which this does, if it can)."""
        return not any(self.alive(process) for process in self.processes())

    def ended_by(self, signal: int, *, wait_for: float = 1.0) -> bool:
        """Whether a reader was ended by `signal`. The executor's thread may be reaping one that
        it saw end: its exit status is waited for, up to `wait_for` seconds."""
        deadline = time.monotonic() + wait_for
        for process in self.processes():
            while process.exitcode is None and wait([process.sentinel], 0) and time.monotonic() < deadline:
                time.sleep(0.01)
            if process.exitcode == -signal:
                return True
        return False


def get_pool(workers: int) -> ReaderPool:
    """This process's pool of `workers` readers, started if need be."""
    global _pool
    reap()
    with _lock:
        if _pool is None or _pool.workers != workers:
            if _pool is not None:  # its chunks in hand are read; then its readers exit
                _pool.executor.shutdown(wait=False, cancel_futures=False)
            _pool = ReaderPool(workers)
            _pools.append(_pool)
        return _pool


def retire(readers: ReaderPool) -> None:
    """Give no more work to a pool that broke, unless another scan already replaced it. It is
    still watched (watched_pools) until its readers are reaped."""
    global _pool
    with _lock:
        if _pool is readers:
            _pool = None
    readers.executor.shutdown(wait=False, cancel_futures=True)


def watched_pools() -> list[ReaderPool]:
    """Every pool whose readers may be reading: the current one, and those retired or replaced
    with chunks in hand."""
    with _lock:
        return [readers for readers in _pools if not readers.killed]


def reap() -> None:
    """Forget the pools whose readers have all been reaped (and reap those that can be)."""
    with _lock:
        _pools[:] = [readers for readers in _pools if readers is _pool or not readers.ended()]


def kill_all() -> None:
    """Kill the readers of every pool, the current one included."""
    global _pool
    with _lock:
        pools, _pool = list(_pools), None
    for readers in pools:
        readers.kill()
    reap()


def start_readers(workers: int) -> None:
    """Start the reader processes now, in the background, for reads known to come: a reader's
    start (a spawned interpreter importing mutagen) then overlaps the walk instead of the first
    batch's wait. A no-op task per reader makes the pool spawn each of them."""
    if workers <= 0:
        return
    readers = get_pool(workers)
    try:
        for _ in range(workers):
            readers.submit(child.ready)
    except (BrokenProcessPool, RuntimeError):  # the first batch's submit replaces the pool
        retire(readers)


def _spawner() -> ThreadPoolExecutor:
    """The thread that starts readers, which lives as long as this process."""
    pid = os.getpid()
    return _spawners.get(pid) or _spawners.setdefault(pid, ThreadPoolExecutor(1, thread_name_prefix="reader-start"))
