"""Startup recovery and reconciliation, step by step (scanner/jobs/recovery.py, scanner/runtime/process.py)."""

import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now

from scanner.core import procinfo
from scanner.jobs import lifecycle
from scanner.jobs.recovery import recover_scans
from scanner.models import ScanEvent, ScanJob, Worker
from scanner.runtime.process import ScanRuntime
from tests.helpers import config, fresh, local_worker, many_files, remote_worker, running_job
from tests.procs import wait_until

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- step 1 and 4: orphans
@pytest.mark.parametrize("owner_kind", ["dead_pid", "zombie_pid", "reused_pid", "deleted_row"])
def test_a_running_job_whose_owner_died_on_this_host_is_paused_and_resumed(make_library, request, owner_kind):
    if owner_kind == "reused_pid":
        owner = local_worker(os.getpid(), started=procinfo.process_start_ticks() + 1)  # same pid, other process
    elif owner_kind == "deleted_row":
        owner = local_worker(os.getpid())
    else:
        owner = local_worker(request.getfixturevalue(owner_kind))
    job = running_job(make_library(), owner, files_processed=1204)
    if owner_kind == "deleted_row":
        owner.delete()

    report = recover_scans(config=config(worker_timeout=3600))

    job = fresh(job)
    # Its trigger stays what created it; the resume is counted, and told in its events.
    assert (job.status, job.trigger, job.resume_count, job.owner) == ("pending", "manual", 1, None)
    assert job.status_message == "Interrupted after 1,204 of 5,000 files; resumed automatically"
    assert [d.action for d in report.decisions if d.job == job.pk] == ["orphaned", "auto_resumed"]
    kinds = list(ScanEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds == ["orphaned", "auto_resumed"]
    lease = lifecycle.claim(job.pk, local_worker(os.getpid()))
    assert lease.lease_token == 4, "the claim path takes it, with a new fencing token"


def test_a_job_of_a_live_process_on_this_host_is_never_touched(make_library):
    owner = local_worker(os.getpid())  # this very process: alive
    Worker.objects.filter(pk=owner.pk).update(heartbeat_at=Now() - timedelta(hours=1))
    job = running_job(make_library(), owner, files_processed=50)
    assert recover_scans(config=config(worker_timeout=30)).decisions == []
    assert fresh(job).status == "running" and fresh(job).lease_token == 3


def test_other_hosts_are_judged_by_their_heartbeat_on_the_database_clock(make_library):
    alive = running_job(make_library(), remote_worker(seconds_silent=5), files_processed=50)
    silent = running_job(make_library(), remote_worker(seconds_silent=120), files_processed=50)
    recover_scans(config=config(worker_timeout=30))
    assert fresh(alive).status == "running"
    assert fresh(silent).status == "pending"
    assert "stopped sending heartbeats" in ScanEvent.objects.get(job=silent, kind="orphaned").message


def test_dead_worker_rows_are_swept(dead_pid):
    gone = local_worker(dead_pid)
    silent = remote_worker(seconds_silent=120)
    alive = local_worker(os.getpid())
    recover_scans(config=config(worker_timeout=30))
    assert list(Worker.objects.values_list("pk", flat=True)) == [alive.pk]
    assert not Worker.objects.filter(pk__in=[gone.pk, silent.pk]).exists()


# ---------------------------------------------------------------- step 2 and 5: resuming
def test_a_user_pause_is_never_resumed(make_library):
    job = ScanJob.objects.create(library=make_library(), status="paused", pause_reason="user", files_processed=900)
    recover_scans()
    assert (fresh(job).status, fresh(job).resume_count) == ("paused", 0)


@pytest.mark.parametrize("processed, progress, resumed",
                         [(11, 0.5, True), (3, 1.5, True), (10, 1.0, False), (0, 0, False)])
def test_scans_whose_process_died_resume_only_with_real_progress(make_library, dead_pid, processed, progress, resumed):
    job = running_job(make_library(), local_worker(dead_pid), files_processed=processed, progress=progress)
    recover_scans(config=config(auto_resume_min_files=10, auto_resume_min_percent=1))
    assert fresh(job).status == ("pending" if resumed else "paused")


def test_an_orphan_without_real_progress_says_how_to_resume_it(make_library, dead_pid):
    job = running_job(make_library(), local_worker(dead_pid), files_processed=2)
    recover_scans()
    job = fresh(job)
    assert (job.status, job.pause_reason) == ("paused", "interrupted")
    assert "too little progress to resume automatically" in job.status_message


def test_shutdown_pauses_always_resume(make_library):
    job = ScanJob.objects.create(library=make_library())
    lease = lifecycle.claim(job.pk, local_worker(os.getpid()))
    lifecycle.pause_for_shutdown(lease)  # as a stopping server does, before any file was scanned
    recover_scans()
    assert fresh(job).status == "pending" and "server shutdown" in fresh(job).status_message


def test_auto_resume_can_be_turned_off(make_library, dead_pid):
    job = running_job(make_library(), local_worker(dead_pid), files_processed=500)
    recover_scans(config=config(auto_resume=False))
    assert (fresh(job).status, fresh(job).pause_reason) == ("paused", "interrupted")
    assert fresh(job).status_message.endswith("resume it when ready")


# ---------------------------------------------------------------- step 3: duplicates
@pytest.mark.django_db(transaction=True)
def test_duplicate_open_jobs_keep_the_most_progress_and_cancel_the_rest(make_library):
    """The constraint forbids duplicates; data from before it (or restored backups) may not."""
    constraint = next(c for c in ScanJob._meta.constraints if c.name == "scanjob_one_open_job_per_library")
    with connection.schema_editor() as editor:
        editor.remove_constraint(ScanJob, constraint)
    try:
        library = make_library()
        small = ScanJob.objects.create(library=library, status="paused", pause_reason="user", files_processed=10)
        big = ScanJob.objects.create(library=library, status="paused", pause_reason="user", files_processed=300)
        newest = ScanJob.objects.create(library=library, status="pending", files_processed=10)
        recover_scans()
        assert fresh(big).status == "paused"
        for loser in (small, newest):
            assert fresh(loser).status == "cancelled" and fresh(loser).status_message == f"Superseded by job {big.pk}"
        assert ScanJob.objects.count() == 3, "losers are kept as history"
    finally:
        ScanJob.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(ScanJob, constraint)


# ---------------------------------------------------------------- deleted libraries
def test_open_jobs_of_deleted_libraries_end_failed(make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="paused", pause_reason="interrupted", files_processed=99)
    ScanJob.objects.filter(pk=job.pk).update(library=None)  # as a deletion from outside the app would leave it
    recover_scans()
    assert fresh(job).status == "failed" and "was deleted" in fresh(job).error_message


# ---------------------------------------------------------------- the command
def test_dry_run_changes_nothing_and_reports_what_it_would_do(make_library, dead_pid):
    job = running_job(make_library(), local_worker(dead_pid), files_processed=500)
    out = io.StringIO()
    call_command("recover_scans", "--dry-run", stdout=out)
    assert f"Would: orphaned: job {job.pk}" in out.getvalue()
    assert fresh(job).status == "running" and not ScanEvent.objects.exists()
    assert Worker.objects.count() == 1


def test_the_command_fixes_and_reports_as_json(make_library, dead_pid):
    job = running_job(make_library(), local_worker(dead_pid), files_processed=500)
    out = io.StringIO()
    call_command("recover_scans", "--json", "--no-resume", stdout=out)
    report = json.loads(out.getvalue())
    assert [d["action"] for d in report["decisions"] if d["job"] == job.pk] == ["orphaned"]
    assert (fresh(job).status, fresh(job).pause_reason) == ("paused", "interrupted")
    out = io.StringIO()
    call_command("recover_scans", stdout=out)
    assert f"auto_resumed: job {job.pk}" in out.getvalue()


# ---------------------------------------------------------------- reconcile, both directions
@pytest.mark.django_db(transaction=True)
def test_reconcile_recovers_a_job_this_process_owns_but_no_thread_runs(make_library):
    runtime = ScanRuntime(kind="test", config=config())
    me = runtime.identity.register()
    job = running_job(make_library(), me, files_processed=400)
    runtime.reconcile()
    assert fresh(job).status == "pending"
    assert "its scan thread in this process ended" in ScanEvent.objects.get(job=job, kind="orphaned").message


@pytest.mark.django_db(transaction=True)
def test_reconcile_stops_a_thread_whose_job_is_no_longer_its_own(make_library):
    library = make_library()
    many_files(Path(library.path), 500)
    runtime = ScanRuntime(kind="test", config=config(max_files_per_second=20, batch_size=1000))
    me = runtime.identity.register()
    job = ScanJob.objects.create(library=library)
    thread = runtime.adopt(lifecycle.claim(job.pk, me))
    wait_until(lambda: fresh(job).phase == "scanning", timeout=10, what="the scan to start")
    # Another process took the job over: the thread holds a stale lease, and being throttled
    # with a large batch it would not notice by itself for many seconds.
    ScanJob.objects.filter(pk=job.pk).update(status="pending")
    lifecycle.claim(job.pk, local_worker(os.getpid()))
    runtime.reconcile()
    thread.join(5)
    assert not thread.is_alive() and runtime.registry.threads() == []
    assert ScanEvent.objects.filter(job=job, kind="thread_stopped").exists()
    assert fresh(job).status == "running" and fresh(job).lease_token == 2, "the new owner's job is untouched"


def test_a_worker_in_another_pid_namespace_is_judged_by_its_heartbeat(make_library):
    """Containers sharing the host's network share its hostname, not its pids."""
    neighbour = Worker.objects.create(hostname=procinfo.hostname(), pid_namespace="other-boot/1234",
                                      pid=4_000_000, process_started=1)
    job = running_job(make_library(), neighbour, files_processed=500)
    recover_scans(config=config(worker_timeout=30))
    assert fresh(job).status == "running" and Worker.objects.filter(pk=neighbour.pk).exists()


def test_dry_run_also_reports_the_resume_that_would_follow(make_library, dead_pid):
    job = running_job(make_library(), local_worker(dead_pid), files_processed=500)
    out = io.StringIO()
    call_command("recover_scans", "--dry-run", stdout=out)
    assert f"Would: orphaned: job {job.pk}" in out.getvalue()
    assert f"Would: auto_resumed: job {job.pk}" in out.getvalue()
    assert fresh(job).status == "running"


def test_a_user_pause_of_an_interrupted_scan_is_kept(make_library):
    from scanner.jobs import services

    library = make_library()
    job = ScanJob.objects.create(library=library, status="paused", pause_reason="interrupted", files_processed=500)
    paused = services.scan_pause(library_id=library.pk)
    assert (paused.pk, paused.status, paused.pause_reason) == (job.pk, "paused", "user")
    recover_scans()
    assert (fresh(job).status, fresh(job).pause_reason) == ("paused", "user")


@pytest.mark.django_db(transaction=True)
def test_a_process_whose_row_was_removed_claims_nothing_under_it(make_library):
    runtime = ScanRuntime(kind="test", config=config())
    old = runtime.identity.register()
    Worker.objects.filter(pk=old.pk).delete()  # judged dead by another process
    job = ScanJob.objects.create(library=make_library())
    runtime.claim_pending()
    assert fresh(job).status == "pending", "nothing is claimed under an owner others think dead"
    assert runtime.identity.worker.pk != old.pk, "the process registered again"
    runtime.claim_pending()
    claimed = ScanEvent.objects.get(job=job, kind="claimed")
    assert claimed.worker == runtime.identity.label and fresh(job).lease_token == 1
    runtime.shutdown(timeout=5)
