"""Faults and hostile conditions: each test proves nothing is lost (issue: hardening)."""

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client
from rest_framework.authtoken.models import Token

from libraries.models import Library, MediaFile
from scanner.jobs import services
from scanner.models import ScanEvent, ScanJob
from tests import media
from tests.helpers import make_operator, many_files, present_paths, run_job, scan_now, unprivileged_filesystem_access
from tests.procs import Gunicorn, manage, server_env, wait_until

PG_CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", sorted(os.listdir("/etc/postgresql"))[0] if
              os.path.isdir("/etc/postgresql") else "15", "main"]


def job_of(library) -> ScanJob:
    return ScanJob.objects.filter(library=library).latest("created_at")


def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to lose")


# ---------------------------------------------------------------- database faults
@pytest.mark.django_db(transaction=True)
def test_killed_database_connections_are_retried_and_the_scan_completes_exactly(runtime, make_library):
    needs_postgres()
    library = make_library()
    paths = many_files(Path(library.path), 1500)
    runtime(max_files_per_second=400, batch_size=25)
    services.scan_start(library_id=library.pk)
    for threshold in (100, 300, 500):
        wait_until(lambda threshold=threshold: job_of(library).files_processed >= threshold, timeout=20,
                   what="progress")
        with connection.cursor() as cursor:  # every connection but this test's own
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    done = wait_until(lambda: (j := job_of(library)).status == "completed" and j, timeout=60, what="completion")
    assert (done.files_processed, done.files_added, done.resume_count) == (1500, 1500, 0)
    assert sorted(present_paths(library)) == sorted(paths)
    assert not ScanEvent.objects.filter(job=done, kind__in=["interrupted", "orphaned"]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_scan_that_finds_its_last_commits_lost_goes_on_from_the_database(runtime, make_library):
    """What a PostgreSQL crash leaves when it had not flushed the latest asynchronous commits:
    an older job row. A scan that lives through it must not build on what it remembers."""
    needs_postgres()
    library = make_library()
    many_files(Path(library.path), 1500)
    runtime(max_files_per_second=300, batch_size=25, auto_resume=False)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).files_processed >= 100, timeout=20, what="progress")
    with transaction.atomic(), connection.cursor() as cursor:  # the row stays locked until both are done
        cursor.execute("UPDATE scanner_scanjob SET files_processed = files_processed - 25 WHERE status = 'running'")
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    job = wait_until(lambda: (j := job_of(library)).status == "paused" and j, timeout=20, what="the scan to stop")
    assert job.pause_reason == "interrupted" and "lost the scan's last commits" in job.status_message


@pytest.mark.slow
@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_postgres_restart_mid_scan_loses_nothing_and_the_web_says_503_meanwhile(runtime, make_library, tmp_path,
                                                                                    django_user_model):
    needs_postgres()
    library = make_library()
    paths = many_files(Path(library.path), 1500)
    ops = make_operator("ops")
    token = Token.objects.create(user=ops).key
    browser = Client()
    browser.force_login(ops)
    session = f"sessionid={browser.cookies['sessionid'].value}"
    assert manage("collectstatic", "--noinput", "-v0", env=server_env(tmp_path)).returncode == 0
    server = Gunicorn(tmp_path, env={"SCANNER_ENABLED": "false"}).start(ready_path="/api/health/")
    assert server.get("/", cookie=session)[0] == 200
    runtime(max_files_per_second=300, batch_size=25)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).files_processed >= 100, timeout=20, what="progress")
    try:
        subprocess.run([*PG_CLUSTER, "stop"], check=True, capture_output=True, timeout=60)
        status, body = server.api("GET", "/api/libraries/", token)
        assert status == 503 and "database is unavailable" in body["detail"]
        status, body, _ = server.get("/", cookie=session)
        assert status == 503 and b"database is unavailable" in body
    finally:
        subprocess.run([*PG_CLUSTER, "start"], check=True, capture_output=True, timeout=60)
        connection.close()
    try:
        wait_until(lambda: server.api("GET", "/api/libraries/", token)[0] == 200, timeout=20,
                   what="the web to recover without a restart")
        done = wait_until(lambda: (j := job_of(library)).status == "completed" and j, timeout=90,
                          what="the scan to finish")
        assert (done.files_processed, done.files_added, done.files_found) == (1500, 1500, 1500)
        assert sorted(present_paths(library)) == sorted(paths)
    finally:
        server.kill()


# ---------------------------------------------------------------- filesystem faults
@pytest.mark.django_db(transaction=True)
def test_a_root_removed_mid_scan_fails_the_job_and_marks_nothing_missing(runtime, make_library):
    library = make_library()
    root = Path(library.path)
    paths = many_files(root, 1200)
    scan_now(library)
    for rel in paths[:10]:  # gone before the rescan: a completed rescan would mark them missing
        (root / rel).unlink()
    runtime(max_files_per_second=300, batch_size=25)
    services.scan_start(library_id=library.pk)
    wait_until(lambda: job_of(library).files_processed >= 100, timeout=20, what="progress")
    shutil.rmtree(root)
    failed = wait_until(lambda: (j := job_of(library)).status == "failed" and j, timeout=20, what="the failure")
    assert "library folder" in failed.error_message and str(root) in failed.error_message
    assert "Nothing was marked missing" in failed.status_message
    assert not MediaFile.objects.filter(library=library, missing=True).exists()


@pytest.mark.django_db(transaction=True)
def test_permission_changes_and_replaced_files_during_a_scan(make_library, public_tmp):
    root = public_tmp / "library"
    for folder in "abcdefghij":
        for n in range(30):
            media.write_wav(root / folder / f"{n:02d}.wav", seconds=0.05)
    library = make_library(path=root)
    job = services.scan_start(library_id=library.pk).job
    replaced = root / "g" / "05.wav"

    def meddle():
        wait_until(lambda: ScanJob.objects.get(pk=job.pk).files_processed >= 60, timeout=30, what="progress")
        (root / "h").chmod(0)  # ahead of the walk: becomes unreadable
        media.write_wav(root / "g" / "tmp.part", seconds=0.5)
        os.replace(root / "g" / "tmp.part", replaced)  # a file replaced while the scan runs
        connection.close()

    helper = threading.Thread(target=meddle)
    helper.start()
    with unprivileged_filesystem_access():
        done = run_job(job, batch_size=10, max_files_per_second=120, metadata_workers=0)
    helper.join()
    assert done.status == "completed", done.error_message
    assert (done.dirs_failed, done.files_processed) == (1, 270)
    files = {f.path: f for f in MediaFile.objects.filter(library=library)}
    assert files["g/05.wav"].size == replaced.stat().st_size and files["g/05.wav"].duration == 0.5
    assert not any(path.startswith("h/") for path in files), "an unreadable folder is skipped, not guessed at"


# ---------------------------------------------------------------- security
@pytest.mark.django_db
def test_the_admin_is_for_staff_only(client, django_user_model):
    assert client.get("/admin/").status_code == 302
    client.force_login(django_user_model.objects.create_user("viewer", password="a-long-pass-123"))
    response = client.get("/admin/libraries/library/")
    assert response.status_code == 302 and "/admin/login/" in response.url
    response = client.post("/admin/libraries/library/add/", {"name": "x", "path": "/tmp", "kind": "mixed"})
    assert response.status_code == 302
    assert not Library.objects.exists()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_neither_the_secret_key_nor_tokens_nor_passwords_are_logged(tmp_path, django_user_model, make_library):
    token = Token.objects.create(user=make_operator("ops", password="Sup3r-secret-pass")).key
    library = make_library()
    assert manage("collectstatic", "--noinput", "-v0", env=server_env(tmp_path)).returncode == 0
    server = Gunicorn(tmp_path, env={"DJANGO_LOG_LEVEL": "DEBUG"}).start()
    try:
        server.api("GET", "/api/libraries/", token)
        server.api("POST", f"/api/scanner/start/{library.pk}", token)
        server.api("GET", "/api/libraries/", token[:-4] + "beef")  # a wrong token
        wait_until(lambda: ScanJob.objects.filter(status="completed").exists(), timeout=20, what="the scan")
    finally:
        server.stop()
    log = server.log()
    secret = (tmp_path / "secret_key").read_text().strip()
    assert "api/libraries" in log, "the access log is on"
    for value in (secret, token, token[:-4] + "beef", "Sup3r-secret-pass"):
        assert value not in log, "a secret reached the log"
