"""Races found in review, each replayed with its exact interleaving (scanner/lifecycle.py).

A recovery pass reads, decides, then writes; another connection acts in between, through the
pass's `interleave` seam or a hook on one statement. Each test failed before the write re-checked
what the read had established.
"""

import threading

import pytest
from django.db import connection
from django.db.models.functions import Now

from libraries.services import library_delete
from scanner import lifecycle, services
from scanner.models import ScanEvent, ScanJob, Worker
from scanner.recovery import recover_scans
from tests.helpers import fresh, local_worker, remote_worker, running_job

pytestmark = pytest.mark.django_db(transaction=True)


def in_other_connection(call):
    """Run `call` in another thread, so on another database connection, and wait for it."""
    outcome: list = []

    def run():
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the other connection is stuck"
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


def test_a_user_pause_that_lands_during_a_recovery_pass_is_kept(make_library, dead_pid):
    library = make_library()
    job = running_job(library, local_worker(dead_pid), files_processed=500)
    recover_scans(resume=False)  # orphaned by an earlier pass: paused, to resume automatically
    assert (fresh(job).status, fresh(job).resumes_automatically) == ("paused", True)

    def user_pauses(seen):
        if seen is not None and seen.pk == job.pk:  # the pass read it paused-and-resumable
            in_other_connection(lambda: services.pause_scan_by_library(library_id=library.pk))

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
            return services.start_scan(library_id=library.pk)

    thread_result: list = []

    def run_start():
        try:
            thread_result.append(start())
        except Exception as exc:
            thread_result.append(exc)
        finally:
            connection.close()

    starter = threading.Thread(target=run_start)
    starter.start()
    assert looked_up.wait(30)
    library_delete(library=library)
    deleted.set()
    starter.join(30)
    assert isinstance(thread_result[0], services.LibraryNotFound), thread_result
    assert not ScanJob.objects.exists()
