"""The served app, through a real gunicorn as `make run` starts it."""

import re

import pytest

from tests.procs import Gunicorn, manage, server_env

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
    from pathlib import Path

    from scanner import services
    from scanner.models import ScanJob, Worker
    from tests.helpers import build_tree, present_paths
    from tests.procs import wait_until

    library = make_library()
    truth = build_tree(Path(library.path))
    server = Gunicorn(tmp_path, workers=2, env={"SCANNER_CLAIM_INTERVAL": "0.2"}).start()
    try:
        workers = wait_until(lambda: Worker.objects.count() == 2 and list(Worker.objects.all()), timeout=15,
                             what="both gunicorn workers to register")
        assert server.proc.pid not in {w.pid for w in workers}, "the pre-fork master never scans"
        services.start_scan(library_id=library.pk)
        wait_until(lambda: ScanJob.objects.filter(library=library, status="completed").exists(), timeout=20,
                   what="a gunicorn worker to complete the scan")
        assert present_paths(library) == set(truth)
    finally:
        server.stop()
    assert not Worker.objects.exists(), "a graceful stop unregisters the workers"
