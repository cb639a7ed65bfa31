"""Races found in review, each replayed with its exact interleaving (scanner/jobs/lifecycle.py).

A recovery pass reads, decides, then writes; another connection acts in between, through the
pass's `interleave` seam or a hook on one statement. Each test failed before the write re-checked
what the read had established.
"""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models.functions import Now

from libraries.models import Library
from libraries.services import library_delete
from scanner.engine.run import ScanEngine
from scanner.jobs import lifecycle, services
from scanner.jobs.recovery import recover_scans
from scanner.jobs.schedule import run_shared_duties
from scanner.models import ScanEvent, ScanJob, Worker
from tests.helpers import config, fresh, local_worker, make_worker, many_files, remote_worker, run_job, running_job
from tests.procs import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(call):
    """Start `call` in a thread, so on another database connection; returns (thread, outcome list)."""
    outcome: list = []

    def run():
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def in_other_connection(call):
    """Run `call` on another database connection and wait for it."""
    thread, outcome = in_thread(call)
    thread.join(30)
    assert not thread.is_alive(), "the other connection is stuck"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def test_a_user_pause_that_lands_during_a_recovery_pass_is_kept(make_library, dead_pid):
    library = make_library()
    job = running_job(library, local_worker(dead_pid), files_processed=500)
    recover_scans(resume=False)  # orphaned by an earlier pass: paused, to resume automatically
    assert (fresh(job).status, fresh(job).resumes_automatically) == ("paused", True)

    def user_pauses(seen):
        if seen is not None and seen.pk == job.pk:  # the pass read it paused-and-resumable
            in_other_connection(lambda: services.scan_pause(library_id=library.pk))

    report = recover_scans(interleave=user_pauses)

    assert (fresh(job).status, fresh(job).pause_reason) == ("paused", "user")
    assert not [d for d in report.decisions if d.action == "auto_resumed"]


def test_a_worker_that_registers_and_claims_during_a_pass_is_not_orphaned(make_library):
    job = ScanJob.objects.create(library=make_library())
    claimed = {}

    def newcomer_claims(seen):
        if seen is None:  # the pass has judged the workers: the newcomer is not among them
            worker = in_other_connection(lambda: remote_worker(seconds_silent=0))
            claimed["lease"] = in_other_connection(lambda: lifecycle.claim(job.pk, worker))

    recover_scans(interleave=newcomer_claims)

    job = fresh(job)
    assert (job.status, job.lease_token) == ("running", claimed["lease"].lease_token)
    assert not ScanEvent.objects.filter(job=job, kind="orphaned").exists()


def test_a_silent_worker_that_beats_during_a_pass_keeps_its_job(make_library):
    worker = remote_worker(seconds_silent=120)
    job = running_job(make_library(), worker, files_processed=500)

    def worker_beats(seen):
        if seen is not None and seen.pk == job.pk:
            in_other_connection(lambda: Worker.objects.filter(pk=worker.pk).update(heartbeat_at=Now()))

    recover_scans(interleave=worker_beats)

    assert (fresh(job).status, fresh(job).owner) == ("running", worker.pk)
    assert Worker.objects.filter(pk=worker.pk).exists(), "a worker that beats is not swept"


def test_start_racing_a_library_delete_answers_not_found(make_library):
    """The library exists when start looks it up, and is gone when the job is inserted."""
    library = make_library()
    looked_up, deleted = threading.Event(), threading.Event()

    def after_library_lookup(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if 'FROM "libraries_library"' in sql and not looked_up.is_set():
            looked_up.set()
            assert deleted.wait(30)
        return result

    def start():
        with connection.execute_wrapper(after_library_lookup):
            return services.scan_start(library_id=library.pk)

    starter, thread_result = in_thread(start)
    assert looked_up.wait(30)
    library_delete(library=library)
    deleted.set()
    starter.join(30)
    assert isinstance(thread_result[0], services.LibraryNotFound), thread_result
    assert not ScanJob.objects.exists()


def backend_waiting_on_lock(query_prefix: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                       [query_prefix + "%"])
        return cursor.fetchone()[0] > 0


def test_deleting_a_library_while_its_scan_commits_a_batch_does_not_deadlock(make_library):
    """PostgreSQL. A batch commit holds the job row (its guarded UPDATE comes first) and, at
    COMMIT, its new catalogue rows need the library row (foreign key). The library's deletion
    must take the two in the same order, or it deadlocks and answers 503."""
    if connection.vendor != "postgresql":
        pytest.skip("the lock cycle needs row locks (PostgreSQL)")
    library = make_library()
    many_files(Path(library.path), 30)
    job = services.scan_start(library_id=library.pk).job
    worker = make_worker()
    lease = lifecycle.claim(job.pk, worker)
    job_locked, go = threading.Event(), threading.Event()

    def hold_after_the_guarded_update(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "scanner_scanjob"') and '"checkpoint"' in sql and not job_locked.is_set():
            job_locked.set()  # inside the batch's transaction, the job row locked
            go.wait(30)
        return result

    def scan():
        with connection.execute_wrapper(hold_after_the_guarded_update):
            return ScanEngine(lease, config=config(batch_size=10, metadata_workers=0), stop=threading.Event(),
                              worker_label=worker.label).run()

    engine, _ = in_thread(scan)
    assert job_locked.wait(30), "the first batch never committed"
    deleter, deleted = in_thread(lambda: library_delete(library=Library.objects.get(pk=library.pk)))
    wait_until(lambda: backend_waiting_on_lock("SELECT"), timeout=10, what="the delete to wait for the job row")
    go.set()
    deleter.join(30)
    engine.join(30)
    assert deleted == [None], deleted
    assert not Library.objects.filter(pk=library.pk).exists()
    assert ScanJob.objects.get(pk=job.pk).status == "failed"


def test_a_process_back_from_a_long_silence_keeps_the_job_it_claims(make_library):
    """A process cut off for longer than SCANNER_WORKER_TIMEOUT claims a queued job before its
    next heartbeat: the claim counts as one, so the next recovery pass does not orphan it."""
    job = services.scan_start(library_id=make_library().pk).job
    back_from_a_partition = remote_worker(seconds_silent=120)
    lease = lifecycle.claim(job.pk, back_from_a_partition)
    recover_scans()
    assert (fresh(job).status, fresh(job).lease_token) == ("running", lease.lease_token), fresh(job).status_message


def test_a_library_deleted_while_the_schedule_queues_scans_costs_no_other_library_its_scan(make_library):
    """PostgreSQL checks the foreign key at commit: had the schedule queued every due library in
    one transaction, a library deleted meanwhile would roll back all the others' scans."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transaction keeps the delete out")
    doomed = make_library(scan_interval=timedelta(hours=1))
    kept = make_library(scan_interval=timedelta(hours=1))
    read = threading.Event()

    def delete_after_the_due_list(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not read.is_set() and sql.startswith("SELECT") and '"scan_interval" IS NOT NULL' in sql:
            read.set()
            deleter, outcome = in_thread(lambda: library_delete(library=Library.objects.get(pk=doomed.pk)))
            deleter.join(30)
            assert outcome == [None], outcome
        return result

    with connection.execute_wrapper(delete_after_the_due_list):
        run_shared_duties(prune=False, retention_days=0)
    assert read.is_set()
    assert ScanJob.objects.filter(library=kept, status="pending").exists()


def test_a_scan_queued_while_its_library_moves_waits_and_walks_the_new_folder(make_library, tmp_path):
    """PostgreSQL. A change of a library's path checks that no scan is open, then writes: a scan
    queued between the two (a notification, the schedule) would walk the old folder into the
    moved library. The queue waits for the row the change holds, and finds the new folder."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transaction serialises the two already")
    from django.db import transaction

    from libraries.services import library_check_path_change

    library = make_library()
    new_folder = tmp_path / "moved"
    many_files(new_folder, 5)
    checked, go = threading.Event(), threading.Event()

    def move():
        with transaction.atomic():
            library_check_path_change(library=library, path=str(new_folder))
            checked.set()  # no open scan: now the write, and the commit
            go.wait(30)
            Library.objects.filter(pk=library.pk).update(path=str(new_folder))

    mover, _ = in_thread(move)
    assert checked.wait(30)
    queuer, queued = in_thread(lambda: lifecycle.queue(library_id=library.pk, mode="quick", trigger="notify",
                                                       message="Quick scan queued (notify)"))
    wait_until(lambda: backend_waiting_on_lock("SELECT"), timeout=10, what="the queue to wait for the library row")
    go.set()
    mover.join(30)
    queuer.join(30)
    (job,) = queued
    assert job is not None and Library.objects.get(pk=library.pk).path == str(new_folder)
    assert run_job(job).status == "completed" and job.library.files.count() == 5
