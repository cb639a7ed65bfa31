"""Operations: scheduled rescans, retention, metrics (scanner/jobs/schedule.py, scanner/metrics.py)."""

import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from scanner.jobs.schedule import prune_history, queue_due_scans
from scanner.models import ScanEvent, ScanJob, Worker
from tests.helpers import at_once, many_files, present_paths
from tests.procs import Gunicorn, wait_until

pytestmark = pytest.mark.django_db

SIX_HOURS = timedelta(hours=6)


def finished_job(library, *, hours_ago: float, status="completed", **fields) -> ScanJob:
    job = ScanJob.objects.create(library=library, status=status, **fields)
    when = timezone.now() - timedelta(hours=hours_ago)
    ScanJob.objects.filter(pk=job.pk).update(created_at=when, started_at=when, completed_at=when + timedelta(minutes=1))
    return job


# ---------------------------------------------------------------- scheduled rescans
def test_a_due_library_gets_one_quick_scan(make_library):
    never = make_library(scan_interval=SIX_HOURS)
    overdue = make_library(scan_interval=SIX_HOURS)
    finished_job(overdue, hours_ago=7)
    recent = make_library(scan_interval=SIX_HOURS)
    finished_job(recent, hours_ago=1)
    manual_only = make_library()
    finished_job(manual_only, hours_ago=100)

    queued = queue_due_scans()
    jobs = ScanJob.objects.filter(pk__in=queued)
    assert sorted(j.library_id for j in jobs) == sorted([never.pk, overdue.pk])
    assert {(j.mode, j.trigger, j.status) for j in jobs} == {("quick", "schedule", "pending")}
    assert queue_due_scans() == [], "queued once: an open scan is not queued again"


@pytest.mark.django_db(transaction=True)
def test_processes_noticing_at_once_queue_one_scan(make_library):
    library = make_library(scan_interval=SIX_HOURS)
    finished_job(library, hours_ago=8)
    results = at_once(queue_due_scans, 6)
    assert not [r for r in results if isinstance(r, Exception)]
    assert ScanJob.objects.filter(library=library, trigger="schedule").count() == 1


def test_next_scan_at_is_in_the_api_and_the_admin(staff_client, admin_client, make_library):
    library = make_library(name="Series", scan_interval=SIX_HOURS)
    last = finished_job(library, hours_ago=2)
    plain = make_library(name="Plain")
    body = staff_client.get(f"/api/libraries/{library.pk}/").json()
    expected = ScanJob.objects.get(pk=last.pk).created_at + SIX_HOURS
    assert body["next_scan_at"] == expected.isoformat().replace("+00:00", "Z")
    assert staff_client.get(f"/api/libraries/{plain.pk}/").json()["next_scan_at"] is None
    changed = staff_client.patch(f"/api/libraries/{plain.pk}/", {"scan_interval": "01:00:00"}, format="json").json()
    assert changed["next_scan_at"] is not None
    assert "next scan at" in admin_client.get("/admin/libraries/library/").content.decode().lower()


@pytest.mark.django_db(transaction=True)
def test_the_runtime_runs_scheduled_scans(runtime, make_library):
    library = make_library(scan_interval=timedelta(hours=1))
    paths = many_files(Path(library.path), 30)
    runtime(reconcile_interval=0.3)
    job = wait_until(lambda: ScanJob.objects.filter(library=library, status="completed").first(), timeout=20,
                     what="the scheduled scan")
    assert job.trigger == "schedule" and sorted(present_paths(library)) == sorted(paths)


# ---------------------------------------------------------------- retention
def test_old_history_is_pruned_but_each_librarys_latest_scan_stays(make_library):
    library, other = make_library(), make_library()
    old = finished_job(library, hours_ago=24 * 100)
    ScanEvent.objects.create(job=old, kind="completed", message="old")
    failed_old = finished_job(library, hours_ago=24 * 95, status="failed")
    kept_recent = finished_job(library, hours_ago=24 * 10)
    only_one = finished_job(other, hours_ago=24 * 400)  # the latest of its library: kept
    paused_old = ScanJob.objects.create(library=other, status="paused", pause_reason="user")
    ScanJob.objects.filter(pk=paused_old.pk).update(created_at=timezone.now() - timedelta(days=500))

    assert prune_history(retention_days=90) == 2
    remaining = set(ScanJob.objects.values_list("pk", flat=True))
    assert remaining == {kept_recent.pk, only_one.pk, paused_old.pk}
    assert not ScanEvent.objects.filter(job_id__in=[old.pk, failed_old.pk]).exists()
    assert prune_history(retention_days=0) == 0, "0 keeps everything"


# ---------------------------------------------------------------- metrics
def test_metrics_need_a_login(anon_client):
    assert anon_client.get("/metrics").status_code == 401


def test_metrics_are_derived_from_the_database(user_client, make_library):
    library = make_library()
    finished_job(library, hours_ago=3, files_processed=120, bytes_processed=5000)
    done = finished_job(library, hours_ago=2, files_processed=30)
    ScanJob.objects.create(library=make_library(), status="running", files_processed=7)
    ScanEvent.objects.create(job=done, kind="orphaned", message="x")
    ScanEvent.objects.create(job=done, kind="auto_resumed", message="x")
    Worker.objects.create(hostname="nas", pid=42)

    response = user_client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for line in [
        'mediaserver_scan_jobs{status="completed"} 2.0', 'mediaserver_scans_running 1.0',
        "mediaserver_scan_files_processed_total 157.0", "mediaserver_scan_bytes_processed_total 5000.0",
        'mediaserver_reconcile_fixes_total{kind="orphaned"} 1.0',
        'mediaserver_reconcile_fixes_total{kind="superseded"} 0.0',
        'mediaserver_scan_duration_seconds_bucket{le="10.0"} 0.0',
        'mediaserver_scan_duration_seconds_bucket{le="60.0"} 2.0',
        "mediaserver_scan_duration_seconds_count 2.0",
    ]:
        assert line in text, line
    assert 'mediaserver_worker_heartbeat_age_seconds{kind="server",worker="nas:42"}' in text


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_every_gunicorn_worker_gives_the_same_metrics(tmp_path, make_library, django_user_model):
    token = Token.objects.create(user=django_user_model.objects.create_user("prometheus")).key
    library = make_library()
    finished_job(library, hours_ago=1, files_processed=321)
    server = Gunicorn(tmp_path, workers=3, env={"SCANNER_ENABLED": "false"}).start(ready_path="/api/health/")
    try:
        scrapes = set()
        for _ in range(15):  # spread over the three workers by the kernel's accept queue
            request = urllib.request.Request(server.url + "/metrics", headers={"Authorization": f"Token {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
            scrapes.add(next(line for line in text.splitlines()
                             if line.startswith("mediaserver_scan_files_processed_total")))
    finally:
        server.kill()
    assert scrapes == {"mediaserver_scan_files_processed_total 321.0"}
