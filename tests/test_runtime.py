"""The per-process runtime with real threads (scanner/runtime/process.py)."""

import gc
import os
import threading
from pathlib import Path

import pytest
from django.db import connection

from libraries.models import MediaFile
from scanner.core.readers import pool as extraction
from scanner.jobs import lifecycle, services
from scanner.jobs.recovery import recover_scans
from scanner.models import ScanEvent, ScanJob, Worker
from scanner.runtime import entrypoints
from scanner.runtime.entrypoints import current_runtime, stop_runtime
from scanner.runtime.process import ScanRuntime
from scanner.runtime.registry import ScanThread
from tests import media
from tests.helpers import build_tree, config, local_worker, many_files, present_paths
from tests.procs import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def job_of(library) -> ScanJob:
    return ScanJob.objects.filter(library=library).latest("created_at")


def test_nothing_scans_unless_an_entry_point_starts_it():
    assert current_runtime() is None
    assert not [t.name for t in threading.enumerate() if t.name.startswith("scan-job")]
    assert not Worker.objects.exists()


def test_a_scanning_process_takes_what_it_loaded_out_of_the_collectors_passes_once(runtime, monkeypatch):
    """What a process loaded before its runtime starts (Django, the apps) is frozen, so a scan's
    full garbage collections do not walk it; once only, or objects alive at each later start
    (a restarted runtime) would never be collected."""
    monkeypatch.setattr(entrypoints, "_startup_frozen", False)
    gc.unfreeze()
    loaded = [object()]  # stands for what the process loaded (a list: the collector tracks it)

    started = runtime()
    # (its startup recovery run first: a runtime stopped before it races APScheduler's removal of the job)
    wait_until(lambda: started._scheduler.get_job("startup_recovery") is None, timeout=10, what="startup recovery")
    late = [object()]  # made after the start: a later start must not freeze it
    entrypoints.freeze_startup_objects()  # what start_runtime calls each time it makes a runtime

    def collected(thing) -> bool:  # gc.get_objects() leaves out the frozen
        return any(tracked is thing for tracked in gc.get_objects())

    assert not collected(loaded)
    assert collected(late)


def test_a_job_queued_by_another_process_is_claimed_by_polling(runtime, make_library):
    library = make_library()
    truth = build_tree(Path(library.path))
    runtime(claim_interval=1.0)
    job = ScanJob.objects.create(library=library)  # no wake-up reaches this process
    wait_until(lambda: ScanJob.objects.get(pk=job.pk).status != "pending", timeout=3, what="the job to be claimed")
    wait_until(lambda: ScanJob.objects.get(pk=job.pk).status == "completed", timeout=20, what="the scan to complete")
    job.refresh_from_db()
    assert job.worker_name == "" and job.lease_token == 1
    assert present_paths(library) == set(truth)


def test_pause_stops_the_thread_at_once_and_resume_finishes_exactly(runtime, make_library):
    library = make_library()
    paths = many_files(Path(library.path), 400)
    rt = runtime(max_files_per_second=150, batch_size=10)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).files_processed >= 30, timeout=20, what="some progress")

    paused = services.scan_pause(library_id=library.pk)
    assert paused.status == "paused"
    wait_until(lambda: not rt.registry.threads(), timeout=5, what="the scan thread to stop")
    job = job_of(library)
    assert job.status == "paused" and 30 <= job.files_processed < 400
    assert MediaFile.objects.filter(library=library).count() == job.files_processed, (
        "progress is exactly what was committed")

    resumed = services.scan_resume(library_id=library.pk).job
    assert resumed.pk == job.pk
    wait_until(lambda: job_of(library).status == "completed", timeout=30, what="the resumed scan to complete")
    done = job_of(library)
    assert (done.pk, done.resume_count, done.files_processed, done.files_added, done.files_found) == (
        job.pk, 1, 400, 400, 400)
    assert sorted(present_paths(library)) == sorted(paths)


def test_a_pause_made_by_another_process_stops_the_scan_at_its_next_batch(runtime, make_library):
    library = make_library()
    many_files(Path(library.path), 400)
    rt = runtime(max_files_per_second=150, batch_size=10)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).files_processed >= 20, timeout=20, what="some progress")

    # What another process's pause does: only the row changes; nobody signals our thread.
    ScanJob.objects.filter(library=library, status="running").update(status="paused", pause_reason="user", owner=None)
    wait_until(lambda: not rt.registry.threads(), timeout=5, what="the scan thread to notice")
    job = job_of(library)
    assert job.status == "paused"
    assert MediaFile.objects.filter(library=library).count() == job.files_processed


def test_capacity_limits_concurrent_scans_in_a_process(runtime, make_library):
    libraries = [make_library() for _ in range(3)]
    for library in libraries:
        many_files(Path(library.path), 60)
    runtime(max_concurrent=1, max_files_per_second=200, batch_size=10)
    for library in libraries:
        services.scan_start(library_id=library.pk)
    peak = 0

    def all_done():
        nonlocal peak
        peak = max(peak, ScanJob.objects.filter(status="running").count())
        return ScanJob.objects.filter(status="completed").count() == 3

    wait_until(all_done, timeout=30, what="three scans to complete one after another")
    assert peak == 1


def test_the_worker_row_identifies_the_process_and_beats(runtime):
    import os

    runtime()
    worker = wait_until(lambda: Worker.objects.first(), timeout=5, what="the worker row")
    assert (worker.pid, worker.kind) == (os.getpid(), "test") and worker.process_started > 0
    first_beat = worker.heartbeat_at
    wait_until(lambda: Worker.objects.get(pk=worker.pk).heartbeat_at > first_beat, timeout=5, what="a heartbeat")


def test_a_process_whose_worker_row_was_removed_stops_its_scans(runtime, make_library):
    library = make_library()
    many_files(Path(library.path), 400)
    rt = runtime(max_files_per_second=100, batch_size=10)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).status == "running", timeout=5, what="the scan to start")
    old_worker = rt.identity.worker.pk
    Worker.objects.filter(pk=old_worker).delete()  # as a sweeper that judged us dead would
    wait_until(lambda: not rt.registry.threads(), timeout=5, what="the scan to stop")
    assert Worker.objects.exclude(pk=old_worker).count() == 1, "the process registers again"


def test_shutdown_pauses_running_scans_for_a_prompt_resume(runtime, make_library):
    library = make_library()
    many_files(Path(library.path), 400)
    runtime(max_files_per_second=100, batch_size=10)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).files_processed > 0, timeout=10, what="some progress")
    stop_runtime()
    job = job_of(library)
    assert (job.status, job.pause_reason) == ("paused", "shutdown")
    assert not Worker.objects.exists()
    assert MediaFile.objects.filter(library=library).count() == job.files_processed


def test_scan_threads_close_their_database_connections(runtime, make_library):
    if connection.vendor != "postgresql":
        pytest.skip("counts server connections on PostgreSQL")

    def connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    libraries = [make_library() for _ in range(4)]
    for library in libraries:
        many_files(Path(library.path), 20)
    runtime(max_concurrent=2)
    baseline = connections()
    for library in libraries:
        services.scan_start(library_id=library.pk)
    wait_until(lambda: ScanJob.objects.filter(status="completed").count() == 4, timeout=20, what="four scans")
    # The scheduler's own threads keep theirs; the four scan threads must not leave theirs open.
    wait_until(lambda: connections() <= baseline + 2, timeout=5, what="scan connections to close")


def test_a_slow_scan_still_commits_progress_every_few_seconds(runtime, make_library):
    """A batch is cut by time as well as by size, so a gentle scan shows progress, a pause from
    another process is seen at its next commit, and a crash loses little."""
    library = make_library()
    many_files(Path(library.path), 200)
    runtime(max_files_per_second=8, batch_size=5000)
    services.scan_start(library_id=library.pk)
    progressed = wait_until(lambda: (j := job_of(library)).status == "running" and 0 < j.files_processed < 200 and j,
                            timeout=5, what="a partial commit")
    assert MediaFile.objects.filter(library=library).count() == progressed.files_processed
    services.scan_cancel(library_id=library.pk)


def test_a_scan_thread_that_cannot_start_gives_its_job_back(make_library, monkeypatch):
    library = make_library()
    many_files(Path(library.path), 5)
    rt = ScanRuntime(kind="test", config=config())
    job = services.scan_start(library_id=library.pk).job

    def no_threads_left(self):
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patch:
        patch.setattr(ScanThread, "start", no_threads_left)
        rt.claim_pending()
    job.refresh_from_db()
    assert (job.status, job.pause_reason, job.resumes_automatically) == ("paused", "interrupted", True)
    assert "failure to start its thread" in job.status_message
    assert rt.registry.busy_library_ids() == set(), "the library's slot is free again"

    recover_scans()
    rt.claim_pending()
    wait_until(lambda: job_of(library).status == "completed", timeout=10, what="the scan to run after all")
    rt.shutdown(timeout=5)


@pytest.mark.timeout(60)
def test_a_stopped_thread_is_reported_once_while_it_winds_down(make_library, tmp_path, share):
    source = tmp_path / "share"
    media.write_mp3(source / "a.mp3")
    mount = share(source, hang_read=["a.mp3"])  # its scan thread will wait for this read
    library = make_library(path=mount.path)
    rt = ScanRuntime(kind="test", config=config(metadata_workers=1, read_timeout=60))
    job = services.scan_start(library_id=library.pk).job
    thread = rt.adopt(lifecycle.claim(job.pk, rt.identity.register()))
    wait_until(lambda: extraction._pool is not None and extraction._pool.hung(0.2), timeout=10,
               what="the tag read to hang")
    ScanJob.objects.filter(pk=job.pk).update(status="pending")  # taken over, as if by another process
    lifecycle.claim(job.pk, local_worker(os.getpid()))

    rt.reconcile()
    rt.reconcile()
    assert thread.is_alive(), "still waiting for its read"
    assert ScanEvent.objects.filter(job=job, kind="thread_stopped").count() == 1

    mount.set(hang_read=[])
    thread.join(10)
    assert not thread.is_alive() and rt.registry.threads() == []
    rt.shutdown(timeout=5)


@pytest.mark.timeout(90)
def test_a_scan_paused_while_a_tag_read_hangs_does_not_leave_its_thread_stuck(runtime, make_library, tmp_path,
                                                                              share):
    """The pause ends the scan thread; the hung read in a batch read ahead must not hold it (nor
    the process's exit) once nobody needs what the read returns."""
    source = tmp_path / "share"
    for name in "abcdef":
        media.write_mp3(source / f"{name}.mp3", tags={"title": name})
    mount = share(source, hang_read=["b.mp3"])
    library = make_library(path=mount.path)
    # One file a run, one every 2 s: b.mp3's read starts (and hangs) with its batch, planned
    # ahead, and the thread waits in the rate limit when the pause comes.
    rt = runtime(metadata_workers=2, read_timeout=60, max_files_per_second=0.5, batch_size=1)
    services.scan_start(library_id=library.pk)
    thread = wait_until(lambda: rt.registry.threads() and rt.registry.threads()[0], timeout=10,
                        what="the scan thread")
    try:
        wait_until(lambda: extraction._pool is not None and extraction._pool.hung(0.3), timeout=15,
                   what="the read of b.mp3 to hang")
        services.scan_pause(library_id=library.pk)
        thread.join(8)
        assert not thread.is_alive(), "the paused scan's thread is stuck behind the hung read"
        assert (job_of(library).status, rt.registry.threads()) == ("paused", [])
    finally:
        mount.set(hang_read=[])
        thread.join(30)
