"""Chaos: SIGKILL the whole server at 20 random moments across one long scan, restarting it
each time. The final catalogue equals the ground truth and every file is counted once."""

import random
import signal
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from libraries.models import MediaFile
from scanner.models import ScanEvent, ScanJob
from tests.helpers import make_operator, many_files, present_paths
from tests.procs import Gunicorn, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

KILLS, FILES, BATCH = 20, 6000, 50
ENV = {"SCANNER_MAX_FILES_PER_SECOND": "700", "SCANNER_BATCH_SIZE": str(BATCH), "SCANNER_CLAIM_INTERVAL": "0.2",
       "SCANNER_HEARTBEAT_INTERVAL": "0.3", "SCANNER_WORKER_TIMEOUT": "2", "SCANNER_RECONCILE_INTERVAL": "1",
       "GUNICORN_ACCESSLOG": ""}


def test_twenty_sigkills_across_one_long_scan(tmp_path, make_library, django_user_model):
    library = make_library()
    paths = sorted(many_files(Path(library.path), FILES))
    token = Token.objects.create(user=make_operator("ops")).key
    rng = random.Random(20261129)
    server = Gunicorn(tmp_path, env=ENV).start(ready_path="/api/health/")
    status, body = server.api("POST", f"/api/scanner/start/{library.pk}", token)
    assert status == 201
    job_id = body["id"]
    job = lambda: ScanJob.objects.get(pk=job_id)  # noqa: E731
    kills = 0
    try:
        for _ in range(KILLS):
            before = job().files_processed
            wait_until(lambda before=before: job().status in ("running", "completed")
                       and job().files_processed > before, timeout=30, what="the scan to progress after a restart")
            if job().status == "completed":
                break
            time.sleep(rng.uniform(0, 0.4))  # a random moment of the scan
            committed = job().files_processed
            server.kill(signal.SIGKILL)
            after = job()
            if after.status == "completed":
                break  # it completed during the pause: this kill interrupted nothing, owes no resume
            kills += 1
            assert after.files_processed >= committed, "committed progress is never lost"
            assert MediaFile.objects.filter(library=library).count() == after.files_processed, \
                "what the job counts is exactly what the catalogue holds"
            server = Gunicorn(tmp_path, env=ENV).start(ready_path="/api/health/")
        done = wait_until(lambda: (j := job()).status == "completed" and j, timeout=60, what="the scan to complete")
    finally:
        server.kill()
    assert kills >= KILLS - 2, f"only {kills} kills landed while the scan ran"
    assert (done.files_processed, done.files_added, done.files_found, done.files_failed) == (FILES, FILES, FILES, 0)
    assert sorted(present_paths(library)) == paths
    assert done.resume_count == kills
    resumes = ScanEvent.objects.filter(job_id=job_id, kind="resumed").values_list("message", flat=True)
    assert len(resumes) == kills, "every restart resumed the same job from its checkpoint"
