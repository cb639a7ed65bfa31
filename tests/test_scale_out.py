"""Scale-out on one database: three `manage.py scanworker` processes and a web-only gunicorn."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from scanner.models import ScanJob, Worker
from tests.helpers import make_operator, many_files, present_paths
from tests.procs import ROOT, Gunicorn, become_subreaper, server_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

TIMEOUT, INTERVAL, CAPACITY = 2, 1, 3
ENV = {"SCANNER_MAX_CONCURRENT": str(CAPACITY), "SCANNER_MAX_FILES_PER_SECOND": "250", "SCANNER_BATCH_SIZE": "25",
       "SCANNER_HEARTBEAT_INTERVAL": "0.3", "SCANNER_WORKER_TIMEOUT": str(TIMEOUT),
       "SCANNER_RECONCILE_INTERVAL": str(INTERVAL), "SCANNER_CLAIM_INTERVAL": "0.2"}


def test_scanworkers_share_scans_and_take_over_from_a_killed_one(tmp_path, make_library, django_user_model):
    libraries = [make_library(name=f"L{i}") for i in range(6)]
    truth = {lib.pk: sorted(many_files(Path(lib.path), 1500)) for lib in libraries}
    token = Token.objects.create(user=make_operator("ops")).key
    become_subreaper()
    workers = [subprocess.Popen([sys.executable, "manage.py", "scanworker"], cwd=ROOT, env=server_env(tmp_path, **ENV),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(3)]
    web = Gunicorn(tmp_path, env={"SCANNER_ENABLED": "false"}).start(ready_path="/api/health/")
    try:
        wait_until(lambda: Worker.objects.filter(kind="scanworker").count() == 3, timeout=20, what="3 scanworkers")
        for library in libraries:
            assert web.api("POST", f"/api/scanner/start/{library.pk}", token)[0] == 201
        running = lambda: list(ScanJob.objects.filter(status="running"))  # noqa: E731
        # Past the auto-resume threshold (SCANNER_AUTO_RESUME_MIN_FILES), so a takeover is automatic.
        wait_until(lambda: len([j for j in running() if j.files_processed > 10]) == 6, timeout=20,
                   what="six scans running at once")
        scanworker_ids = set(Worker.objects.filter(kind="scanworker").values_list("pk", flat=True))
        per_worker = Counter(job.owner for job in running())
        assert set(per_worker) <= scanworker_ids, "the web-only node never scans"
        assert max(per_worker.values()) <= CAPACITY

        victim_id, _ = per_worker.most_common(1)[0]
        victim = Worker.objects.get(pk=victim_id)
        orphans = {job.pk: job.lease_token for job in running() if job.owner == victim_id}
        os.kill(victim.pid, signal.SIGKILL)
        next(w for w in workers if w.pid == victim.pid).wait()
        killed_at = time.monotonic()

        def taken_over():
            jobs = ScanJob.objects.filter(pk__in=orphans)
            return all(j.status in ("running", "completed") and j.lease_token > orphans[j.pk] and j.owner != victim_id
                       for j in jobs)

        wait_until(taken_over, timeout=TIMEOUT + INTERVAL + 5, what="the killed worker's scans to move")
        assert time.monotonic() - killed_at <= TIMEOUT + INTERVAL + 5

        def finished_within_capacity():
            owners = Counter(ScanJob.objects.filter(status="running").values_list("owner", flat=True))
            assert not owners or max(owners.values()) <= CAPACITY
            assert victim_id not in owners
            return not ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES).exists()

        wait_until(finished_within_capacity, timeout=90, interval=0.2, what="every scan to finish")
    finally:
        web.kill()
        for worker in workers:
            worker.kill()
            worker.wait()
    for library in libraries:
        job = ScanJob.objects.get(library=library)
        assert (job.status, job.files_processed, job.files_added) == ("completed", 1500, 1500), "each scan ran once"
        assert sorted(present_paths(library)) == truth[library.pk]
