"""Load: 3 gunicorn workers, 4 libraries scanning, 200 mixed control requests from 8 clients.

Afterwards: at most one open job per library, every job in a legal state, counters that never
went backwards, completed catalogues equal to the ground truth, and no 5xx at any point.
"""

import random
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from libraries.models import MediaFile
from scanner.models import ScanJob
from tests.helpers import make_operator, many_files
from tests.procs import Gunicorn, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

LIBRARIES, FILES, CLIENTS, REQUESTS = 4, 2000, 8, 200
ACTIONS = ["start", "pause", "resume", "cancel"]


def legal(job: ScanJob) -> list[str]:
    """What is wrong with a job's state, if anything."""
    problems = []
    if (job.status == "running") != (job.owner is not None):
        problems.append("owner set iff running")
    if (job.status == "paused") != (job.pause_reason is not None):
        problems.append("pause_reason set iff paused")
    if job.status in ("completed", "failed", "cancelled") and job.completed_at is None:
        problems.append("finished without completed_at")
    if job.status == "completed" and (job.progress != 100 or job.files_processed != job.files_found):
        problems.append("completed without 100% and exact counts")
    if job.status != "completed" and job.progress >= 100:
        problems.append("100% before completion")
    if job.files_processed > job.files_found:
        problems.append("more processed than found")
    return problems


def test_mixed_control_requests_under_load_keep_every_invariant(tmp_path, make_library, django_user_model):
    libraries = [make_library(name=f"L{i}") for i in range(LIBRARIES)]
    truth = {lib.pk: sorted(many_files(Path(lib.path), FILES)) for lib in libraries}
    token = Token.objects.create(user=make_operator("ops")).key
    server = Gunicorn(tmp_path, workers=3, env={
        "SCANNER_MAX_FILES_PER_SECOND": "600", "SCANNER_BATCH_SIZE": "50", "SCANNER_CLAIM_INTERVAL": "0.2",
        "SCANNER_RECONCILE_INTERVAL": "1", "SCANNER_HEARTBEAT_INTERVAL": "0.5", "SCANNER_WORKER_TIMEOUT": "5",
        "SCANNER_MAX_CONCURRENT": "2", "GUNICORN_ACCESSLOG": "",
    }).start(ready_path="/api/health/")
    server_errors: list[str] = []
    # (thread, job id) -> [(files_processed, progress)]. Only one thread's observations are ordered:
    # two threads' responses can be appended in another order than the reads behind them were made.
    seen: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    done = threading.Event()

    def record(status: int, what: str, body) -> None:
        if status >= 500:
            server_errors.append(f"{what} -> {status} {body}")
        job = body.get("job") if isinstance(body, dict) and "library_id" in body else body
        if isinstance(job, dict) and "files_processed" in job:
            seen[threading.get_ident(), job["id"]].append((job["files_processed"], job["progress"]))

    def client(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(REQUESTS // CLIENTS):
            library = rng.choice(libraries)
            action = rng.choice(ACTIONS)
            status, body = server.api("POST", f"/api/scanner/{action}/{library.pk}", token)
            record(status, f"{action} {library.pk}", body)
            assert status in (200, 201, 409), (action, status, body)
            time.sleep(rng.uniform(0, 0.15))

    def watcher() -> None:
        while not done.is_set():
            for library in libraries:
                status, body = server.api("GET", f"/api/scanner/status/{library.pk}", token)
                record(status, f"status {library.pk}", body)

    try:
        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
        observer = threading.Thread(target=watcher)
        observer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Let every library finish: resume what is paused, start what has nothing open.
        for library in libraries:
            status, body = server.api("POST", f"/api/scanner/resume/{library.pk}", token)
            record(status, f"final resume {library.pk}", body)
        wait_until(lambda: not ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES).exists(), timeout=120,
                   interval=0.5, what="every scan to finish")
    finally:
        done.set()
        observer.join()
        server.kill()

    assert server_errors == []
    for library in libraries:
        open_jobs = ScanJob.objects.filter(library=library, status__in=ScanJob.OPEN_STATUSES).count()
        assert open_jobs <= 1
        latest = ScanJob.objects.filter(library=library).latest("created_at")
        assert latest.status == "completed", latest.status_message
        paths = sorted(MediaFile.objects.filter(library=library, missing=False).values_list("path", flat=True))
        assert paths == truth[library.pk], "a completed scan's catalogue equals the files on disk"
    for job in ScanJob.objects.all():
        assert legal(job) == [], (job.pk, job.status, legal(job))
    for (_, job_id), observations in seen.items():
        processed = [p for p, _ in observations]
        progress = [p for _, p in observations]
        assert processed == sorted(processed) and progress == sorted(progress), f"job {job_id} went backwards"
