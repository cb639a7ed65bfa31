"""Library-based scan control and job history through the REST API (DESIGN.md 6)."""

import pytest

from scanner.models import ScanEvent, ScanJob

pytestmark = pytest.mark.django_db

JOB_FIELDS = {
    "id", "library", "status", "pause_reason", "mode", "trigger", "phase", "files_found", "files_processed",
    "files_unchanged", "files_added", "files_updated", "files_missing", "files_failed", "bytes_processed", "progress",
    "files_per_second", "eta_seconds", "status_message", "error_message", "worker", "resume_count", "heartbeat_at",
    "created_at", "started_at", "resumed_at", "paused_at", "completed_at", "updated_at",
}


def post(client, action, library_id, body=None, slash=False):
    return client.post(f"/api/scanner/{action}/{library_id}{'/' if slash else ''}", body, format="json")


def test_start_creates_a_job_with_the_contract_fields(staff_client, make_library):
    library = make_library()
    response = post(staff_client, "start", library.pk)
    assert response.status_code == 201
    job = response.json()
    assert set(job) >= JOB_FIELDS
    assert (job["library"], job["status"], job["mode"], job["worker"], job["eta_seconds"]) == (
        library.pk, "pending", "quick", None, None)


def test_start_full_mode_and_bad_modes(staff_client, make_library):
    library = make_library()
    assert post(staff_client, "start", library.pk, {"mode": "turbo"}).status_code == 400
    assert post(staff_client, "start", library.pk, ["full"]).status_code == 400
    assert post(staff_client, "start", library.pk, {"mode": "full"}, slash=True).json()["mode"] == "full"


def test_start_while_running_is_409_with_the_job(staff_client, make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="running")
    response = post(staff_client, "start", library.pk)
    assert response.status_code == 409
    assert "already running" in response.json()["detail"] and response.json()["job"]["id"] == job.pk


def test_start_resumes_a_paused_scan_with_200(staff_client, make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="paused", pause_reason="user", files_processed=12)
    response = post(staff_client, "start", library.pk)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["status"], response.json()["resume_count"]) == (job.pk, "pending", 1)


def test_pause_is_200_and_idempotent_409_when_nothing_is_open(staff_client, make_library):
    library = make_library()
    assert post(staff_client, "pause", library.pk).status_code == 409
    job = ScanJob.objects.create(library=library, status="running", worker_name="host:1")
    first = post(staff_client, "pause", library.pk)
    assert first.status_code == 200
    assert (first.json()["id"], first.json()["status"], first.json()["pause_reason"], first.json()["worker"]) == (
        job.pk, "paused", "user", None)
    again = post(staff_client, "pause", library.pk, slash=True)
    assert again.status_code == 200 and again.json()["status"] == "paused"


def test_resume_same_job_new_job_or_already_running(staff_client, make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="paused", pause_reason="shutdown", checkpoint="a/b.mp3")
    resumed = post(staff_client, "resume", library.pk)
    assert resumed.status_code == 200 and resumed.json()["id"] == job.pk and resumed.json()["status"] == "pending"
    already = post(staff_client, "resume", library.pk)
    assert already.status_code == 200 and already.json()["id"] == job.pk
    ScanJob.objects.filter(pk=job.pk).update(status="completed")
    new = post(staff_client, "resume", library.pk)
    assert new.status_code == 201 and new.json()["id"] != job.pk


def test_cancel_is_200_then_409(staff_client, make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="running")
    response = post(staff_client, "cancel", library.pk)
    assert response.status_code == 200 and (response.json()["id"], response.json()["status"]) == (job.pk, "cancelled")
    assert post(staff_client, "cancel", library.pk).status_code == 409


def test_status_shows_the_open_job_else_the_latest_else_null(staff_client, make_library):
    library = make_library()
    assert staff_client.get(f"/api/scanner/status/{library.pk}").json() == {"library_id": library.pk, "job": None}
    done = ScanJob.objects.create(library=library, status="completed")
    assert staff_client.get(f"/api/scanner/status/{library.pk}/").json()["job"]["id"] == done.pk
    open_job = ScanJob.objects.create(library=library, status="paused")
    ScanJob.objects.create(library=library, status="failed")
    assert staff_client.get(f"/api/scanner/status/{library.pk}").json()["job"]["id"] == open_job.pk


@pytest.mark.parametrize("method, action", [("post", "start"), ("post", "pause"), ("post", "resume"),
                                            ("post", "cancel"), ("get", "status")])
@pytest.mark.parametrize("library_id", ["999", "abc", "-1", "99999999999999999999999"])
def test_unknown_or_malformed_library_ids_are_404(staff_client, method, action, library_id):
    response = getattr(staff_client, method)(f"/api/scanner/{action}/{library_id}")
    assert response.status_code == 404 and "detail" in response.json()


def test_job_ids_are_not_library_ids(staff_client, make_library):
    """DESIGN.md failure 2: a control URL takes a library id, whatever job ids exist."""
    a, b = make_library(), make_library()
    for _ in range(3):
        ScanJob.objects.create(library=a, status="completed")
    job_b = ScanJob.objects.create(library=b, status="running")
    response = post(staff_client, "pause", b.pk)
    assert response.json()["id"] == job_b.pk
    assert post(staff_client, "pause", a.pk).status_code == 409


def test_job_history_newest_first_with_filters_and_events(staff_client, make_library):
    a, b = make_library(), make_library()
    old = ScanJob.objects.create(library=a, status="completed")
    failed = ScanJob.objects.create(library=a, status="failed")
    other = ScanJob.objects.create(library=b, status="completed")
    assert [j["id"] for j in staff_client.get("/api/scanner/jobs/").json()["results"]] == [other.pk, failed.pk, old.pk]
    by_library = staff_client.get("/api/scanner/jobs", {"library": a.pk}).json()["results"]
    assert [j["id"] for j in by_library] == [failed.pk, old.pk]
    by_status = staff_client.get("/api/scanner/jobs/", {"status": "completed"}).json()["results"]
    assert [j["id"] for j in by_status] == [other.pk, old.pk]
    assert staff_client.get("/api/scanner/jobs/", {"status": "exploded"}).status_code == 400
    assert staff_client.get("/api/scanner/jobs/", {"library": "abc"}).status_code == 400
    assert staff_client.get(f"/api/scanner/jobs/{old.pk}").json()["id"] == old.pk
    assert staff_client.get("/api/scanner/jobs/999999/").status_code == 404

    ScanEvent.objects.create(job=old, kind="started", message="first")
    ScanEvent.objects.create(job=old, kind="completed", message="second")
    events = staff_client.get(f"/api/scanner/jobs/{old.pk}/events/").json()
    assert [e["message"] for e in events["results"]] == ["first", "second"]
    assert set(events["results"][0]) == {"id", "job", "created_at", "kind", "message", "worker", "data"}
    assert staff_client.get("/api/scanner/jobs/999999/events").status_code == 404


def test_health_answers_anonymous_probes(anon_client):
    response = anon_client.get("/api/health/")
    assert response.status_code == 200
    assert response.json() | {"worker": None} == {"status": "ok", "database": True, "scanner_enabled": True,
                                                 "worker": None, "scheduler_running": False, "running_scans": 0}


def test_schema_and_docs_are_served_with_local_assets(staff_client):
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/scanner/start/{library_id}/", "/api/scanner/status/{library_id}/", "/api/libraries/{id}/files/",
                 "/api/scanner/jobs/{id}/events/", "/api/health/"):
        assert path in paths
    docs = staff_client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html and "cdn" not in html.lower()
