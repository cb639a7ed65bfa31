"""`manage.py scan` and `manage.py scanworker` as real processes on the test database."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.jobs import services
from scanner.models import ScanJob, Worker
from tests.helpers import STAT_ONLY, build_tree, many_files, present_paths
from tests.procs import ROOT, manage, server_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def test_scan_command_catalogues_a_library_and_shows_progress(make_library, tmp_path):
    library = make_library(name="Music")
    truth = build_tree(Path(library.path))
    result = manage("scan", "Music", env=server_env(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    assert "files/s" in result.stdout and "completed: Scanned" in result.stdout
    assert present_paths(library) == set(truth)
    assert not Worker.objects.exists(), "the command unregisters its worker"


def test_scan_command_with_paths_scans_only_them_and_names_a_bad_one(make_library, tmp_path):
    library = make_library()
    root = Path(library.path)
    many_files(root, 100)
    episode = f"{root}/Show 000/Episode 003.{STAT_ONLY}"
    result = manage("scan", str(library.pk), "--path", "Show 001", "--path", episode, env=server_env(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    job = ScanJob.objects.get(library=library)
    assert (job.status, job.trigger, job.scope) == ("completed", "command", [f"Show 000/Episode 003.{STAT_ONLY}",
                                                                               "Show 001"])
    assert len(present_paths(library)) == 51

    result = manage("scan", str(library.pk), "--path", "../x", env=server_env(tmp_path / "var"))
    assert result.returncode != 0 and "contains '..'" in result.stderr


def test_scan_command_names_an_unknown_library(tmp_path):
    result = manage("scan", "nope", env=server_env(tmp_path / "var"))
    assert result.returncode != 0 and "No library 'nope'" in result.stderr


def test_ctrl_c_pauses_the_scan_and_running_again_resumes_it(make_library, tmp_path):
    library = make_library()
    paths = many_files(Path(library.path), 400)
    env = server_env(tmp_path / "var", SCANNER_MAX_FILES_PER_SECOND="150", SCANNER_BATCH_SIZE="10")
    proc = subprocess.Popen([sys.executable, "manage.py", "scan", str(library.pk)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ScanJob.objects.filter(library=library, files_processed__gte=20).exists(), timeout=20,
                   what="some progress")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "pausing" in out
    job = ScanJob.objects.get(library=library)
    assert (job.status, job.pause_reason) == ("paused", "user") and job.files_processed < 400

    result = manage("scan", str(library.pk), env=server_env(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    assert "Resuming" in result.stdout
    job.refresh_from_db()
    assert (job.status, job.resume_count, job.files_processed, job.files_added) == ("completed", 1, 400, 400)
    assert sorted(present_paths(library)) == sorted(paths)


def test_scanworker_runs_queued_scans_and_pauses_them_on_sigterm(make_library, tmp_path):
    quick, slow = make_library(), make_library()
    truth = build_tree(Path(quick.path))
    many_files(Path(slow.path), 2000)
    env = server_env(tmp_path / "var", SCANNER_MAX_FILES_PER_SECOND="200", SCANNER_BATCH_SIZE="10",
                     SCANNER_CLAIM_INTERVAL="0.2")
    proc = subprocess.Popen([sys.executable, "manage.py", "scanworker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        services.scan_start(library_id=quick.pk)
        wait_until(lambda: ScanJob.objects.filter(library=quick, status="completed").exists(), timeout=20,
                   what="the scanworker to complete a scan")
        services.scan_start(library_id=slow.pk)
        wait_until(lambda: ScanJob.objects.filter(library=slow, files_processed__gt=0).exists(), timeout=20,
                   what="the second scan to progress")
        worker = Worker.objects.get()
        assert (worker.pid, worker.kind) == (proc.pid, "scanworker")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, out
    assert present_paths(quick) == set(truth)
    job = ScanJob.objects.get(library=slow)
    assert (job.status, job.pause_reason) == ("paused", "shutdown")
    assert not Worker.objects.exists()


def test_other_commands_never_start_the_scanner(make_library, tmp_path):
    library = make_library()
    ScanJob.objects.create(library=library)
    for args in (["migrate", "--check"], ["check"], ["shell", "-v0", "-c", "import time; time.sleep(1.5)"]):
        result = manage(*args, env=server_env(tmp_path / "var", SCANNER_CLAIM_INTERVAL="0.1"))
        assert result.returncode == 0, (args, result.stderr)
    assert ScanJob.objects.get().status == "pending"
    assert not Worker.objects.exists()
