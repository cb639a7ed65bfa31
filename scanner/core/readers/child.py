"""What runs inside a reader process (pool.py starts them): its start, and the reading of a
chunk of files. No Django here: a reader imports the plain-Python core only.

At its start a reader:
- asks the kernel to kill it when the server process that started it dies, even by SIGKILL
  (PR_SET_PDEATHSIG), and exits at once if that already happened: a reader re-parented to
  pid 1 would read on for nobody;
- caps its heap at the pool's READER_MEMORY (RLIMIT_DATA), so a hostile file fails with
  MemoryError and costs that one file, and dumps no core (a reader ended by a signal would
  otherwise write one as big as its heap, file after hostile file);
- ignores Ctrl-C, which reaches the whole foreground process group: the scan decides.

Before each file, a reader thread gives its process CPU_LIMIT_FACTOR times the read timeout
of CPU time from now (RLIMIT_CPU); past it the kernel ends the process (SIGXCPU). It is the
second guard, for when nobody is watching the wall clock (the waiting side's watchdog, in
pending.py, kills a read that takes longer than the timeout). The limit moves with each file
rather than holding for the reader's life: a reader lives as long as its pool and may read
hundreds of thousands of files, a few milliseconds of CPU each, so no lifetime budget fits
both a long scan and a runaway file. With several threads per reader (slow shares) the limit
follows the latest file begun, so a runaway thread is stopped once its fellows have finished
their part of the chunk.

Each reader thread notes in its slot of the pool's shared memory which file it reads since
when (SLOT floats: since when, monotonic; chunk id; index in the chunk): one writer per slot.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import sys
import time
from collections.abc import MutableSequence
from concurrent.futures import ThreadPoolExecutor

from scanner.core.readers.dispatch import Metadata, read_many

SLOT = 3  # shared floats per reader thread: since when (monotonic), chunk id, index in the chunk
SHARE_READ_THREADS = 8  # threads per reader process on a slow share (bench/RESULTS.md, "slow share")
CPU_LIMIT_FACTOR = 3  # CPU seconds a file may cost, in read timeouts (a read is killed at one)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Set by start_reader: the pool's shared slots and where this reader's begin.
_slots: MutableSequence[float]
_base: int


def cpu_limit(timeout: float) -> int:
    """Whole seconds of CPU time one file may cost a reader, for a read timeout of `timeout`."""
    return max(1, math.ceil(CPU_LIMIT_FACTOR * timeout))


def start_reader(slots, counter, memory: int, server: int) -> None:
    """The pool's initializer, run once in each new reader process."""
    global _slots, _base
    _die_with(server)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_soft_limit(resource.RLIMIT_DATA, memory)
    _set_soft_limit(resource.RLIMIT_CORE, 0)
    with counter.get_lock():
        _base, counter.value = counter.value * SHARE_READ_THREADS * SLOT, counter.value + 1
    _slots = slots


def ready() -> None:
    """Nothing: unpickling it in a reader has imported this module and mutagen."""


def read_chunk(chunk_id: int, paths: list[str], threads: int, cpu_seconds: int) -> list[tuple[Metadata, str]]:
    """Each file, with what each thread is reading noted in its slot."""
    results: list[list[tuple[Metadata, str]]] = [[] for _ in paths]

    def read(thread: int) -> None:
        slot = _base + thread * SLOT
        for index in range(thread, len(paths), threads):
            _allow_cpu(cpu_seconds)
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


def _die_with(server: int) -> None:
    """Have the kernel kill this reader when `server` (its parent) dies. The signal comes when
    the *thread* that started this process ends, so pool.py starts readers from a thread that
    lives as long as the server process."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server:  # it died before the request: nobody would send the signal
        os._exit(1)


def _allow_cpu(seconds: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _set_soft_limit(resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime) + seconds)


def _set_soft_limit(kind: int, value: int) -> None:
    """The soft limit, within the hard one, which stays as it was: a process may not raise its
    hard limit again, and the CPU limit moves up with each file."""
    hard = resource.getrlimit(kind)[1]
    resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))
