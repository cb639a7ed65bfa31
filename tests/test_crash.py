"""Crash recovery with real gunicorn processes killed with SIGKILL (DESIGN.md 5).

Intervals are shortened through the environment; every wait polls with a deadline.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from libraries.models import MediaFile
from scanner.core import procinfo
from scanner.models import ScanEvent, ScanJob, Worker
from tests.helpers import make_operator, many_files, present_paths
from tests.procs import Gunicorn, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

TIMEOUT, INTERVAL = 2, 1  # SCANNER_WORKER_TIMEOUT, SCANNER_RECONCILE_INTERVAL (seconds)
FAST = {"SCANNER_HEARTBEAT_INTERVAL": "0.3", "SCANNER_WORKER_TIMEOUT": str(TIMEOUT),
        "SCANNER_RECONCILE_INTERVAL": str(INTERVAL), "SCANNER_CLAIM_INTERVAL": "0.2", "SCANNER_BATCH_SIZE": "25",
        "SCANNER_METADATA_WORKERS": "0"}
SLOW = {**FAST, "SCANNER_MAX_FILES_PER_SECOND": "300"}


@pytest.fixture
def token(django_user_model):
    return Token.objects.create(user=make_operator("ops")).key


@pytest.fixture
def servers(tmp_path):
    started: list[Gunicorn] = []

    def start(workers: int = 1, env: dict | None = None) -> Gunicorn:
        server = Gunicorn(tmp_path, workers=workers, env=env or FAST).start(ready_path="/api/health/")
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def job(pk: int) -> ScanJob:
    return ScanJob.objects.get(pk=pk)


def start_scan(server: Gunicorn, token: str, library) -> int:
    status, body = server.api("POST", f"/api/scanner/start/{library.pk}", token)
    assert status == 201, body
    return body["id"]


def assert_complete_and_exact(job_id: int, library, paths: list[str]) -> ScanJob:
    done = wait_until(lambda: (j := job(job_id)).status == "completed" and j, timeout=60, what="the scan to complete")
    assert (done.files_processed, done.files_added, done.files_found, done.files_failed) == (
        len(paths), len(paths), len(paths), 0)
    assert sorted(present_paths(library)) == sorted(paths)
    return done


def test_sigkill_of_the_whole_server_resumes_the_same_job_with_exact_counts(servers, token, make_library):
    library = make_library()
    paths = many_files(Path(library.path), 1500)
    server = servers(env=SLOW)
    job_id = start_scan(server, token, library)
    wait_until(lambda: job(job_id).files_processed >= 100, timeout=20, what="progress")
    server.kill(signal.SIGKILL)
    interrupted = job(job_id)
    assert interrupted.status == "running", "nothing is left behind the job: the database still says running"

    servers(env=FAST)
    done = assert_complete_and_exact(job_id, library, paths)
    assert done.resume_count == 1 and done.files_processed > interrupted.files_processed
    kinds = list(ScanEvent.objects.filter(job_id=job_id).values_list("kind", flat=True))
    assert kinds.count("orphaned") == 1 and kinds.count("auto_resumed") == 1
    assert "resumed automatically" in ScanEvent.objects.get(job_id=job_id, kind="auto_resumed").message


def test_sigkill_of_one_of_three_workers_moves_its_scan_to_another(servers, token, make_library):
    library = make_library()
    paths = many_files(Path(library.path), 1500)
    server = servers(workers=3, env=SLOW)
    job_id = start_scan(server, token, library)
    wait_until(lambda: job(job_id).files_processed >= 50, timeout=20, what="progress")
    before = job(job_id)
    victim = Worker.objects.get(pk=before.owner)
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()

    moved = wait_until(lambda: (j := job(job_id)).status == "running" and j.lease_token > before.lease_token and j,
                       timeout=TIMEOUT + INTERVAL + 5, what="another worker to resume the job")
    assert time.monotonic() - killed_at <= TIMEOUT + INTERVAL + 5
    assert moved.owner != victim.pk and moved.worker_name != victim.label
    assert_complete_and_exact(job_id, library, paths)


def test_live_scans_in_three_workers_are_never_disturbed_by_reconciliation(servers, token, make_library):
    libraries = [make_library() for _ in range(3)]
    for library in libraries:
        many_files(Path(library.path), 3000)
    server = servers(workers=3, env={**FAST, "SCANNER_MAX_FILES_PER_SECOND": "150", "SCANNER_MAX_CONCURRENT": "1"})
    job_ids = [start_scan(server, token, library) for library in libraries]
    wait_until(lambda: ScanJob.objects.filter(pk__in=job_ids, status="running", files_processed__gt=0).count() == 3,
               timeout=20, what="three scans running")
    tokens = {pk: job(pk).lease_token for pk in job_ids}
    owners = {job(pk).owner for pk in job_ids}
    assert len(owners) == 3, "one scan per worker (capacity 1)"

    observe_until = time.monotonic() + 5 * INTERVAL
    while time.monotonic() < observe_until:
        for pk in job_ids:
            current = job(pk)
            assert (current.status, current.lease_token) == ("running", tokens[pk]), "a live scan was disturbed"
        time.sleep(0.1)
    assert not ScanEvent.objects.filter(kind__in=["orphaned", "thread_stopped"]).exists()
    for library in libraries:
        assert server.api("POST", f"/api/scanner/cancel/{library.pk}", token)[0] == 200


def test_a_user_pause_survives_a_crash_and_restart(servers, token, make_library):
    library = make_library()
    many_files(Path(library.path), 1500)
    server = servers(env=SLOW)
    job_id = start_scan(server, token, library)
    wait_until(lambda: job(job_id).files_processed >= 50, timeout=20, what="progress")
    status, body = server.api("POST", f"/api/scanner/pause/{library.pk}", token)
    assert status == 200 and body["status"] == "paused"
    old_worker = Worker.objects.get().pk
    server.kill(signal.SIGKILL)
    paused = job(job_id)

    servers(env=FAST)
    wait_until(lambda: not Worker.objects.filter(pk=old_worker).exists(), timeout=10,
               what="recovery to run (it sweeps the dead worker's row)")
    after = job(job_id)
    assert (after.status, after.pause_reason, after.resume_count) == ("paused", "user", 0)
    assert after.files_processed == paused.files_processed


def test_sigterm_pauses_for_shutdown_and_the_next_start_resumes(servers, token, make_library):
    library = make_library()
    paths = many_files(Path(library.path), 1500)
    server = servers(env=SLOW)
    job_id = start_scan(server, token, library)
    wait_until(lambda: job(job_id).files_processed >= 50, timeout=20, what="progress")
    server.stop()
    stopped = job(job_id)
    assert (stopped.status, stopped.pause_reason) == ("paused", "shutdown")
    assert MediaFile.objects.filter(library=library).count() == stopped.files_processed
    assert not Worker.objects.exists()

    servers(env=FAST)
    done = assert_complete_and_exact(job_id, library, paths)
    assert done.resume_count == 1


def test_deleting_a_library_mid_scan_stops_its_thread_which_writes_nothing_more(servers, token, make_library):
    library = make_library()
    many_files(Path(library.path), 1500)
    server = servers(workers=3, env=SLOW)
    job_id = start_scan(server, token, library)
    wait_until(lambda: job(job_id).files_processed >= 50, timeout=20, what="progress")
    status, _ = server.api("DELETE", f"/api/libraries/{library.pk}/", token)
    assert status == 204
    at_delete = job(job_id)
    assert at_delete.status == "failed" and "was deleted" in at_delete.error_message
    wait_until(lambda: f"action=thread_ended job={job_id}" in server.log(), timeout=10,
               what="the scan thread to end")
    after = job(job_id)
    assert (after.files_processed, after.updated_at, after.status) == (
        at_delete.files_processed, at_delete.updated_at, "failed")
    assert not MediaFile.objects.filter(library_id=library.pk).exists()


def test_a_running_job_with_a_dead_owner_is_fixed_at_start_and_logged(servers, make_library):
    library = make_library()
    paths = many_files(Path(library.path), 300)
    gone = subprocess.Popen(["true"])
    gone.wait()
    owner = Worker.objects.create(hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(), pid=gone.pid,
                                  process_started=1)
    orphan = ScanJob.objects.create(library=library, status="running", owner=owner.pk, worker_name=owner.label,
                                    lease_token=1, files_processed=0, files_found=300, checkpoint="")
    ScanJob.objects.filter(pk=orphan.pk).update(files_processed=20, progress=6.6)
    server = servers(env=FAST)
    done = wait_until(lambda: (j := job(orphan.pk)).status == "completed" and j, timeout=30,
                      what="the orphan to finish")
    assert done.resume_count == 1 and sorted(present_paths(library)) == sorted(paths)
    event = ScanEvent.objects.get(job=orphan, kind="orphaned")
    assert f"{owner.label} is no longer running" in event.message
    assert f"action=orphaned job={orphan.pk}" in server.log()


def test_a_targeted_scan_killed_with_its_server_resumes_with_its_scope(servers, token, make_library):
    library = make_library()
    paths = many_files(Path(library.path), 1500)
    scope = [f"Show {n:03d}" for n in range(0, 30, 2)]  # every other folder: 750 files
    server = servers(env=SLOW)
    status, body = server.api("POST", f"/api/scanner/start/{library.pk}", token, {"paths": scope})
    assert status == 201 and body["scope"] == scope, body
    wait_until(lambda: job(body["id"]).files_processed >= 100, timeout=20, what="progress")
    server.kill(signal.SIGKILL)

    servers(env=FAST)
    in_scope = [p for p in paths if p.split("/")[0] in scope]
    done = assert_complete_and_exact(body["id"], library, in_scope)
    assert done.resume_count == 1 and done.scope == scope and done.trigger == "manual"


def test_changes_of_a_scan_killed_with_its_server_come_back_when_its_resumed_scan_is_cancelled(servers, token,
                                                                                                 make_library):
    """Notified changes (a 202) are owed until a scan has read them: through a SIGKILL and the
    automatic resume, the job stays a scan of changes, and cancelling it gives them back."""
    library = make_library()
    paths = many_files(Path(library.path), 600, per_folder=10)
    gentle = {**FAST, "SCANNER_MAX_FILES_PER_SECOND": "100"}
    server = servers(env=gentle)
    status, body = server.api("POST", "/api/scanner/changes", token,
                              {"paths": [f"{library.path}/{path}" for path in paths]})
    assert status == 202 and len(body["queued"]) == 600, body
    scan = wait_until(lambda: ScanJob.objects.filter(library=library, files_processed__gte=50).first(), timeout=30,
                      what="the scan of the changes to get going")
    server.kill(signal.SIGKILL)

    again = servers(env=gentle)
    wait_until(lambda: job(scan.pk).resume_count >= 1, timeout=30, what="the automatic resume")
    status, body = again.api("POST", f"/api/scanner/cancel/{library.pk}", token)
    assert status == 200 and (body["id"], body["status"], body["trigger"]) == (scan.pk, "cancelled", "notify"), body
    status, body = again.api("GET", f"/api/libraries/{library.pk}/", token)
    assert body["changes_waiting"] == 600, body  # none lost: each waits to be scanned again
