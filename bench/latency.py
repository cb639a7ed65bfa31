"""Control and status latency under a real gunicorn while a scan runs; prints JSON.

Pause latency is the time from sending POST /api/scanner/pause/<id> until its answer: when it
answers, the job row says paused, and every later batch commit of the scanner fails its lease
guard (a commit in flight holds the row, so the pause waits for it). The script checks that
the committed count does not move after the answer.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.measure import call_command, library_for, reset, trees  # first: it sets Django up

# isort: split
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from scanner.models import ScanJob
from tests.procs import Gunicorn, wait_until

PAUSES = 20
STATUS_REQUESTS = 500
RATE = "5000"  # files/s, with batches of BATCH: one scan of the tree outlasts all the pauses
BATCH = "1000"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    library = library_for(trees.stat_only_tree(count))
    reset(library)
    # A superuser: the API asks staff for model permissions too (mediaserver/api_policy.py).
    user, _ = get_user_model().objects.get_or_create(username="bench",
                                                     defaults={"is_staff": True, "is_superuser": True})
    token = Token.objects.get_or_create(user=user)[0].key
    var = trees.DATA / "var"
    var.mkdir(parents=True, exist_ok=True)
    server = Gunicorn(var, workers=2, env={"SCANNER_MAX_FILES_PER_SECOND": RATE, "SCANNER_BATCH_SIZE": BATCH,
                                           "SCANNER_CLAIM_INTERVAL": "0.2",
                                           "GUNICORN_ACCESSLOG": ""}).start(ready_path="/api/health/")
    try:
        status, _ = server.api("POST", f"/api/scanner/start/{library.pk}", token)
        assert status == 201
        job = lambda: ScanJob.objects.get(library=library, status__in=ScanJob.OPEN_STATUSES)  # noqa: E731
        wait_until(lambda: job().files_processed > 0, timeout=60, what="the scan to run")

        status_times = []
        for _ in range(STATUS_REQUESTS):
            started = time.perf_counter()
            code, body = server.api("GET", f"/api/scanner/status/{library.pk}", token)
            status_times.append(time.perf_counter() - started)
            assert code == 200

        pause_times = []
        for _ in range(PAUSES):
            before = job().files_processed
            wait_until(lambda before=before: job().status == "running" and job().files_processed > before, timeout=60,
                       what="the scan to commit again")
            started = time.perf_counter()
            code, body = server.api("POST", f"/api/scanner/pause/{library.pk}", token)
            pause_times.append(time.perf_counter() - started)
            assert code == 200 and body["status"] == "paused"
            at_pause = job().files_processed
            time.sleep(0.3)  # several batches' worth: a commit after the pause would show here
            assert job().files_processed == at_pause, "a batch was committed after the pause answered"
            assert server.api("POST", f"/api/scanner/resume/{library.pk}", token)[0] == 200
        server.api("POST", f"/api/scanner/cancel/{library.pk}", token)
    finally:
        server.stop()
    print(json.dumps({
        "files": count, "pauses": PAUSES, "pause_p50_ms": 1000 * statistics.median(pause_times),
        "pause_p99_ms": 1000 * percentile(pause_times, 99), "status_requests": STATUS_REQUESTS,
        "status_p50_ms": 1000 * statistics.median(status_times), "status_p99_ms": 1000 * percentile(status_times, 99),
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]))
