"""Parallel requests through a real multi-process gunicorn."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from scanner.models import ScanJob
from tests.helpers import make_operator
from tests.procs import Gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def post(url: str, token: str) -> int:
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_thirty_parallel_starts_give_exactly_one_201(tmp_path, make_library, django_user_model):
    library = make_library()
    token = Token.objects.create(user=make_operator("ops")).key
    # Scanning off, so the job stays queued and every later start is a real conflict.
    server = Gunicorn(tmp_path, workers=3, env={"SCANNER_ENABLED": "false"}).start(ready_path="/api/health/")
    codes: list[int] = []
    barrier = threading.Barrier(30)

    def start():
        barrier.wait()
        codes.append(post(f"{server.url}/api/scanner/start/{library.pk}", token))

    try:
        threads = [threading.Thread(target=start) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [201] + [409] * 29, server.log()[-3000:]
        status, body, _ = server.get("/api/health/")
        assert status == 200 and json.loads(body)["scanner_enabled"] is False
    finally:
        server.stop()
    assert ScanJob.objects.filter(library=library).count() == 1
