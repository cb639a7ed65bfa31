"""Tag reader processes never outlive their use (scanner/core/readers: pool, child, pending).

Issue 23: a FLAC whose metadata is a terabyte of padding kept its reader reading after the
timeout and after gunicorn stopped; a file swapped for a FIFO after the walk listed it held its
reader in open(). Real processes and real files: readers are found in /proc by their parent.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from scanner.core import procinfo, readers
from scanner.core.readers import pool, read_metadata
from scanner.models import ScanJob
from tests import media
from tests.helpers import make_operator, scan_now
from tests.procs import ROOT, Gunicorn, child_pids, reader_processes, wait_until

GONE_WITHIN = 5  # seconds a reader may take to be gone after its timeout or its server's end


@pytest.fixture(scope="module")
def padded_flac(tmp_path_factory):
    """One 1 TiB sparse FLAC of chained padding (256 MiB on disk) for the module. Removed
    afterwards, as pytest keeps old temporary folders."""
    path = media.write_padded_flac(tmp_path_factory.mktemp("padded") / "padded.flac")
    yield path
    path.unlink()


@pytest.fixture
def link_padded_flac(padded_flac):
    """Put the padded FLAC in a library, as a hard link that goes with the test (the file's disk
    is only freed when no link is left)."""
    links: list[Path] = []

    def link(path: Path) -> Path:
        os.link(padded_flac, path)
        links.append(path)
        return path

    yield link
    for path in links:
        path.unlink(missing_ok=True)


@pytest.fixture
def no_readers_left():
    """Every test ends with this process's readers gone."""
    yield
    readers.shutdown_pool()
    wait_until(lambda: not reader_processes(os.getpid()), timeout=GONE_WITHIN, what="the readers to be gone")


def started_readers(workers: int) -> dict[int, int]:
    readers.start_readers(workers)
    return wait_until(lambda: len(found := reader_processes(os.getpid())) == workers and found, timeout=30,
                      what="the readers to start")


def limits(pid: int) -> dict[str, list[str]]:
    """/proc/PID/limits: each limit's soft and hard values, by name."""
    lines = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {line[:26].strip(): line[26:].split()[:2] for line in lines}


def all_gone(pids: dict[int, int]) -> bool:
    return not any(procinfo.is_alive(pid, ticks) for pid, ticks in pids.items())


def all_reaped(pids: dict[int, int]) -> bool:
    """Not even zombies: their parent (this process) collected their exit."""
    return not any(procinfo.process_start_ticks(pid) == ticks for pid, ticks in pids.items())


# ----------------------------------------------------------------- in this process


@pytest.mark.django_db
@pytest.mark.timeout(120)
def test_a_read_past_the_timeout_is_killed_and_the_scan_goes_on(make_library, link_padded_flac, caplog,
                                                               no_readers_left):
    library = make_library()
    root = Path(library.path)
    media.write_mp3(root / "a.mp3", tags={"title": "A"})
    link_padded_flac(root / "b.flac")
    media.write_flac(root / "c.flac", tags={"title": "C"})
    first = started_readers(1)  # the scan's pool: its reader reads b.flac's terabyte

    with caplog.at_level(logging.WARNING, logger="scanner"):
        job = scan_now(library, metadata_workers=1, read_timeout=1)

    assert (job.status, job.files_added, job.files_failed) == ("completed", 3, 1), job.status_message
    assert "'b.flac': unreadable: timed out after 1s" in caplog.text
    assert {f.path: f.title for f in library.files.all()} == {"a.mp3": "A", "b.flac": "", "c.flac": "C"}
    wait_until(lambda: all_reaped(first), timeout=GONE_WITHIN, what="the reader of b.flac to be killed and reaped")


@pytest.mark.django_db
@pytest.mark.timeout(120)
def test_a_file_swapped_for_a_fifo_after_listing_fails_without_blocking_a_reader(make_library, monkeypatch, caplog,
                                                                                 no_readers_left):
    from scanner.engine import plan

    library = make_library()
    root = Path(library.path)
    media.write_mp3(root / "a.mp3", tags={"title": "A"})
    media.write_flac(root / "b.flac", tags={"title": "B"})
    real = plan.PendingReads

    def swap_then_read(paths, *args, **kwargs):
        """After the walk stat'ed b.flac as a file, before its reader opens it."""
        (root / "b.flac").unlink()
        os.mkfifo(root / "b.flac")
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(plan, "PendingReads", swap_then_read)
    first = started_readers(1)

    with caplog.at_level(logging.WARNING, logger="scanner"):
        job = scan_now(library, metadata_workers=1, read_timeout=1)

    assert (job.status, job.files_added, job.files_failed) == ("completed", 2, 1), job.status_message
    assert "'b.flac': unreadable: not a regular file (a FIFO)" in caplog.text
    assert "timed out" not in caplog.text
    assert reader_processes(os.getpid()) == first, "the reader was neither blocked nor replaced"


def test_the_scan_thread_does_not_open_what_is_not_a_regular_file(tmp_path):
    """SCANNER_METADATA_WORKERS=0 reads in the scan thread, where nothing could stop a blocked open."""
    os.mkfifo(tmp_path / "pipe.mp3")
    (tmp_path / "device.flac").symlink_to("/dev/null")  # swapped in after listing: open() follows it
    outcomes: dict[str, tuple] = {}

    def read() -> None:
        for name in ("pipe.mp3", "device.flac"):
            outcomes[name] = read_metadata(str(tmp_path / name))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        with open(tmp_path / "pipe.mp3", "wb"):  # a writer lets the blocked open return
            pass
        pytest.fail("reading a FIFO blocked in open()")
    assert outcomes == {"pipe.mp3": ({}, "not a regular file (a FIFO)"),
                        "device.flac": ({}, "not a regular file (a character device)")}


@pytest.mark.timeout(120)
def test_a_reader_nobody_waits_for_is_stopped_by_its_cpu_limit(padded_flac, tmp_path, no_readers_left):
    """The second guard: no scan thread watches this read (a paused scan, a stuck waiter), so
    its reader ends when it has used its CPU time (3 read timeouts) on the file."""
    first = started_readers(1)
    reads = readers.PendingReads([str(padded_flac)], 1, timeout=1)

    wait_until(lambda: all_gone(first), timeout=60, what="the reader to reach its CPU limit")
    wait_until(lambda: all_reaped(first), timeout=GONE_WITHIN, what="the reader to be reaped")

    assert reads.results() == [({}, "its reader process went past its CPU time limit (3s) reading it")]


def test_a_reader_runs_under_its_limits(tmp_path, no_readers_left):
    """What an operator sees in /proc/PID/limits: the heap cap, no core dumps (a reader ended by
    its CPU limit would dump its whole heap), and a CPU limit once it has read a file."""
    song = media.write_mp3(tmp_path / "a.mp3")
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))  # readers inherit it: theirs must say 0
    try:
        (pid,) = started_readers(1)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    readers.PendingReads([str(song)], 1, timeout=30).results()

    limited = limits(pid)
    assert limited["Max data size"][0] == str(pool.READER_MEMORY)
    assert limited["Max core file size"][0] == "0"
    assert 90 <= int(limited["Max cpu time"][0]) <= 90 + 10  # 3 read timeouts past what it had used


def test_readers_outlive_the_thread_that_started_them(tmp_path, no_readers_left):
    """The parent-death signal follows the thread that started a reader: scan threads end with
    their scan while the pool serves others, so readers must not be theirs."""
    song = media.write_mp3(tmp_path / "a.mp3", tags={"title": "A"})

    def start() -> None:
        """Like a scan thread: start readers, see them ready (started_readers), then end."""
        spawned = started_readers(2)
        heap_cap = str(pool.READER_MEMORY)  # set by a reader's start, after its parent-death signal
        wait_until(lambda: all(limits(pid)["Max data size"][0] == heap_cap for pid in spawned), timeout=30,
                   what="the readers to have run their start")

    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    first = reader_processes(os.getpid())
    assert len(first) == 2, "the readers died with the thread that started them"

    results = readers.PendingReads([str(song)] * 20, 2, timeout=10).results()

    assert [metadata["title"] for metadata, _ in results] == ["A"] * 20
    assert reader_processes(os.getpid()) == first, "a reader died with the thread that started it"


def test_readers_die_with_their_server_process_even_by_sigkill(tmp_path):
    script = ("import os, sys, time\n"
              "from scanner.core import readers\n"
              "if __name__ == '__main__':\n"
              "    readers.start_readers(2)\n"
              "    print('started', flush=True)\n"
              "    time.sleep(600)\n")
    server = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "started"
        spawned = wait_until(lambda: len(found := reader_processes(server.pid)) == 2 and found, timeout=30,
                             what="its readers")
        server.kill()
        server.wait()
        wait_until(lambda: all_gone(spawned), timeout=GONE_WITHIN, what="its readers to die with it")
    finally:
        server.kill()
        server.wait()


def test_a_runtime_that_fails_to_stop_still_ends_its_readers(monkeypatch, no_readers_left):
    from scanner.runtime import entrypoints

    class Broken:
        def shutdown(self, *, timeout: float) -> None:
            raise RuntimeError("could not pause the scans")

    first = started_readers(1)
    monkeypatch.setattr(entrypoints, "_runtime", Broken())

    entrypoints.stop_server_process(timeout=1)

    wait_until(lambda: all_reaped(first), timeout=GONE_WITHIN, what="the readers to be killed and reaped")


# ----------------------------------------------------------------- a real gunicorn


def gunicorn_readers(server: Gunicorn) -> dict[int, int]:
    assert server.proc is not None
    return {pid: ticks for worker in child_pids(server.proc.pid) for pid, ticks in reader_processes(worker).items()}


@pytest.fixture
def library_with_padding(make_library, link_padded_flac):
    library = make_library()
    media.write_mp3(Path(library.path) / "a.mp3", tags={"title": "A"})
    link_padded_flac(Path(library.path) / "b.flac")
    return library


@pytest.fixture
def server(tmp_path):
    started: list[Gunicorn] = []

    def start(**env: str) -> Gunicorn:
        server = Gunicorn(tmp_path, env={"SCANNER_METADATA_WORKERS": "1", "SCANNER_CLAIM_INTERVAL": "0.2", **env})
        started.append(server.start(ready_path="/api/health/"))
        return server

    yield start
    for each in started:
        each.kill()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_a_server_kills_a_reader_past_its_timeout_and_leaves_none_when_it_stops(server, library_with_padding):
    token = Token.objects.create(user=make_operator("ops")).key
    gunicorn = server(SCANNER_READ_TIMEOUT="1")
    status, body = gunicorn.api("POST", f"/api/scanner/start/{library_with_padding.pk}", token)
    assert status == 201, body
    seen: dict[int, int] = {}

    def completed() -> ScanJob | None:
        seen.update(gunicorn_readers(gunicorn))
        job = ScanJob.objects.get(pk=body["id"])
        return job if job.status == "completed" else None

    job = wait_until(completed, timeout=60, what="the scan to complete")
    assert (job.files_added, job.files_failed) == (2, 1)
    assert "'b.flac': unreadable: timed out after 1s" in gunicorn.log()
    assert seen, "no reader was seen"
    # The scan is over: its process has no scan left, so no reader either.
    wait_until(lambda: all_gone(seen) and not gunicorn_readers(gunicorn), timeout=GONE_WITHIN,
               what="the readers to be gone")
    gunicorn.stop()
    assert all_gone(seen)


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
@pytest.mark.parametrize("stop", ["sigterm", "sigkill_of_the_worker"])
def test_stopping_the_server_mid_read_leaves_no_reader_behind(server, library_with_padding, stop):
    token = Token.objects.create(user=make_operator("ops")).key
    gunicorn = server(SCANNER_READ_TIMEOUT="600")
    status, body = gunicorn.api("POST", f"/api/scanner/start/{library_with_padding.pk}", token)
    assert status == 201, body
    reading = wait_until(lambda: (found := gunicorn_readers(gunicorn)) and all(
        _cpu_seconds(pid) > 2 for pid in found) and found, timeout=60, what="a reader deep inside b.flac")
    assert gunicorn.proc is not None

    if stop == "sigterm":
        gunicorn.stop()  # graceful: the worker pauses its scan and stops its runtime
    else:
        for worker in child_pids(gunicorn.proc.pid):
            os.kill(worker, signal.SIGKILL)  # no hook runs: the kernel must end its readers

    wait_until(lambda: all_gone(reading), timeout=GONE_WITHIN, what="the readers to be gone")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
