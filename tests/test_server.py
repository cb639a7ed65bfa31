"""The served app, through real server processes as `make run` and `runserver` start them."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.jobs import services
from scanner.models import ScanJob, Worker
from tests.helpers import build_tree, present_paths
from tests.procs import ROOT, Gunicorn, become_subreaper, free_port, manage, reap_orphans, server_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def test_gunicorn_serves_the_admin_login_with_its_stylesheet(tmp_path):
    collected = manage("collectstatic", "--noinput", "-v0", env=server_env(tmp_path))
    assert collected.returncode == 0, collected.stderr
    server = Gunicorn(tmp_path).start()
    try:
        status, body, _ = server.get("/admin/login/")
        assert status == 200 and b"Log in" in body
        stylesheet = re.search(rb'href="(/static/admin/css/base[^"]*\.css)"', body).group(1).decode()
        status, css, headers = server.get(stylesheet)
        assert status == 200 and headers["Content-Type"].startswith("text/css") and len(css) > 1000
    finally:
        server.stop()


def test_each_gunicorn_worker_scans_and_the_master_does_not(tmp_path, make_library):
    library = make_library()
    truth = build_tree(Path(library.path))
    server = Gunicorn(tmp_path, workers=2, env={"SCANNER_CLAIM_INTERVAL": "0.2"}).start()
    try:
        workers = wait_until(lambda: Worker.objects.count() == 2 and list(Worker.objects.all()), timeout=15,
                             what="both gunicorn workers to register")
        assert server.proc.pid not in {w.pid for w in workers}, "the pre-fork master never scans"
        services.scan_start(library_id=library.pk)
        wait_until(lambda: ScanJob.objects.filter(library=library, status="completed").exists(), timeout=20,
                   what="a gunicorn worker to complete the scan")
        assert present_paths(library) == set(truth)
    finally:
        server.stop()
    assert not Worker.objects.exists(), "a graceful stop unregisters the workers"


@pytest.mark.parametrize("database", ["unmigrated", "unreachable"])
def test_the_server_starts_without_a_usable_database_and_says_why(tmp_path, database):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}" if database == "unmigrated" else "postgres://nobody@127.0.0.1:1/none"
    server = Gunicorn(tmp_path, env={"DATABASE_URL": url, "SCANNER_CLAIM_INTERVAL": "0.2"}).start(
        ready_path="/api/health/")
    try:
        wait_until(lambda: "postponed: database unavailable or not migrated" in server.log(), timeout=10,
                   what="the scanner to log why it waits")
        status, body, _ = server.get("/api/health/")
        assert (status, json.loads(body)["database"]) == ((200, True) if database == "unmigrated" else (503, False))
    finally:
        server.kill()


def test_runserver_scans_in_its_serving_process(tmp_path, make_library):
    library = make_library()
    truth = build_tree(Path(library.path))
    become_subreaper()  # the reloader's child is reaped here once the group is killed
    proc = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port()}"], cwd=ROOT,
                            env=server_env(tmp_path, SCANNER_CLAIM_INTERVAL="0.2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        worker = wait_until(lambda: Worker.objects.first(), timeout=20, what="runserver's worker row")
        assert worker.kind == "runserver" and worker.pid != proc.pid, "the autoreloader's parent does not scan"
        services.scan_start(library_id=library.pk)
        wait_until(lambda: ScanJob.objects.filter(status="completed").exists(), timeout=20, what="the scan")
        assert present_paths(library) == set(truth)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reap_orphans()
