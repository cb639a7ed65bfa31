"""Library-based scan control (scanner/jobs/services.py)."""

import pytest

from scanner.jobs import services
from scanner.models import ScanEvent, ScanJob
from tests.helpers import at_once

pytestmark = pytest.mark.django_db


def test_start_queues_a_new_job(make_library):
    library = make_library()
    action = services.scan_start(library_id=library.pk, mode="full")
    assert action.created
    assert (action.job.status, action.job.mode, action.job.library_id) == ("pending", "full", library.pk)
    assert ScanEvent.objects.filter(job=action.job, kind="queued").exists()


def test_start_while_a_scan_is_open_is_a_conflict(make_library):
    library = make_library()
    first = services.scan_start(library_id=library.pk).job
    with pytest.raises(services.ScanAlreadyRunning) as raised:
        services.scan_start(library_id=library.pk)
    assert raised.value.job.pk == first.pk


def test_start_resumes_a_paused_scan(make_library):
    library = make_library()
    job = services.scan_start(library_id=library.pk).job
    services.scan_pause(library_id=library.pk)
    action = services.scan_start(library_id=library.pk)
    assert not action.created and action.job.pk == job.pk
    assert (action.job.status, action.job.resume_count) == ("pending", 1)


def test_pause_is_by_library_and_idempotent(make_library):
    library, other = make_library(), make_library()
    job = services.scan_start(library_id=library.pk).job
    services.scan_start(library_id=other.pk)
    paused = services.scan_pause(library_id=library.pk)
    assert (paused.pk, paused.status, paused.pause_reason) == (job.pk, "paused", "user")
    assert "Paused by user" in paused.status_message
    assert services.scan_pause(library_id=library.pk).status == "paused"
    assert ScanJob.objects.get(library=other).status == "pending", "other libraries are untouched"


def test_pause_or_cancel_with_nothing_open_is_refused(make_library):
    library = make_library()
    with pytest.raises(services.NoOpenScan, match="Nothing to pause"):
        services.scan_pause(library_id=library.pk)
    with pytest.raises(services.NoOpenScan, match="Nothing to cancel"):
        services.scan_cancel(library_id=library.pk)


def test_resume_continues_the_same_job(make_library):
    library = make_library()
    job = services.scan_start(library_id=library.pk).job
    ScanJob.objects.filter(pk=job.pk).update(checkpoint="Show 001/Episode 003.mkv", files_processed=53)
    services.scan_pause(library_id=library.pk)
    action = services.scan_resume(library_id=library.pk)
    assert not action.created and action.job.pk == job.pk
    assert (action.job.status, action.job.resume_count, action.job.checkpoint) == (
        "pending", 1, "Show 001/Episode 003.mkv")
    assert action.job.resumed_at is not None


def test_resume_with_nothing_paused_starts_a_scan_or_returns_the_running_one(make_library):
    library = make_library()
    started = services.scan_resume(library_id=library.pk)
    assert started.created
    again = services.scan_resume(library_id=library.pk)
    assert not again.created and again.job.pk == started.job.pk


def test_cancel_ends_the_open_job_and_status_shows_it(make_library):
    library = make_library()
    assert services.scan_status(library_id=library.pk) is None
    job = services.scan_start(library_id=library.pk).job
    cancelled = services.scan_cancel(library_id=library.pk)
    assert (cancelled.pk, cancelled.status, cancelled.completed_at is not None) == (job.pk, "cancelled", True)
    assert services.scan_status(library_id=library.pk).pk == job.pk
    assert services.scan_start(library_id=library.pk).created, "a cancelled scan no longer blocks a new one"


def test_status_prefers_the_open_job_over_newer_history(make_library):
    library = make_library()
    open_job = ScanJob.objects.create(library=library, status="paused")
    ScanJob.objects.create(library=library, status="completed")
    assert services.scan_status(library_id=library.pk).pk == open_job.pk


@pytest.mark.parametrize("call", [
    lambda lid: services.scan_start(library_id=lid),
    lambda lid: services.scan_pause(library_id=lid),
    lambda lid: services.scan_resume(library_id=lid),
    lambda lid: services.scan_cancel(library_id=lid),
    lambda lid: services.scan_status(library_id=lid),
])
def test_an_unknown_library_is_reported(call):
    with pytest.raises(services.LibraryNotFound, match="No library with id 999"):
        call(999)


@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_starts_create_exactly_one_job(make_library):
    library = make_library()
    results = at_once(lambda: services.scan_start(library_id=library.pk), 30)
    created = [r for r in results if isinstance(r, services.ScanAction) and r.created]
    conflicts = [r for r in results if isinstance(r, services.ScanAlreadyRunning)]
    assert (len(created), len(conflicts)) == (1, 29), results
    assert ScanJob.objects.filter(library=library).count() == 1


def test_a_cancelled_or_superseded_pause_keeps_no_pause_reason(make_library):
    library = make_library()
    services.scan_start(library_id=library.pk)
    services.scan_pause(library_id=library.pk)
    cancelled = services.scan_cancel(library_id=library.pk)
    assert (cancelled.status, cancelled.pause_reason, cancelled.phase) == ("cancelled", None, "done")
