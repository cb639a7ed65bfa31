"""Automatic resume is bounded and honest (DESIGN.md 5, scanner/jobs/resume_policy.py).

A job whose process lived through an outage resumes whatever its progress, after a backoff
that grows; after SCANNER_AUTO_RESUME_MAX_ATTEMPTS resumes in a row without its checkpoint
moving, it waits for a person, who resets the count by resuming it.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.models.functions import Now

import scanner.engine.catalogue
from scanner.jobs import services
from scanner.jobs.recovery import recover_scans
from scanner.models import ScanEvent, ScanJob
from tests.dbfaults import raise_outage
from tests.helpers import config, fresh, many_files, run_job

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 3


@pytest.fixture
def outages(monkeypatch):
    """Every scan meets an outage while it counts the library's files."""
    monkeypatch.setattr("scanner.core.walk.Walker.count", lambda *args, **kwargs: raise_outage())


def time_passes(job: ScanJob) -> None:
    """As if the backoff had elapsed (it is judged by the database's clock)."""
    ScanJob.objects.filter(pk=job.pk).update(paused_at=Now() - timedelta(hours=1))


def test_resumes_without_progress_stop_at_the_limit_until_a_person_resumes(make_library, outages):
    library = make_library()
    many_files(Path(library.path), 5)
    job = services.scan_start(library_id=library.pk).job
    for attempt in range(1, LIMIT + 1):
        job = run_job(job, auto_resume_max_attempts=LIMIT)
        assert (job.status, job.resumes_automatically) == ("paused", True)
        time_passes(job)
        recover_scans(config=config(auto_resume_max_attempts=LIMIT))
        assert (fresh(job).status, fresh(job).auto_resume_attempts) == ("pending", attempt)

    job = run_job(job, auto_resume_max_attempts=LIMIT)
    assert (job.status, job.pause_reason, job.resumes_automatically) == ("paused", "interrupted", False)
    assert f"resumed automatically {LIMIT} times in a row without progress" in job.status_message
    assert ScanEvent.objects.filter(job=job, kind="auto_resume_gave_up").count() == 1
    time_passes(job)
    recover_scans(config=config(auto_resume_max_attempts=LIMIT))
    assert fresh(job).status == "paused", "it waits for a person"

    resumed = services.scan_resume(library_id=library.pk).job
    assert (resumed.pk, resumed.status, resumed.auto_resume_attempts) == (job.pk, "pending", 0)


def test_each_automatic_resume_in_a_row_waits_longer(make_library, outages):
    library = make_library()
    many_files(Path(library.path), 5)
    job = run_job(services.scan_start(library_id=library.pk).job)
    recover_scans()
    assert fresh(job).status == "pending", "the first resume is at once"

    job = run_job(fresh(job))
    recover_scans()
    assert fresh(job).status == "paused", "the second waits for its backoff"
    time_passes(job)
    recover_scans()
    assert (fresh(job).status, fresh(job).auto_resume_attempts) == ("pending", 2)


def test_a_commit_that_moves_the_checkpoint_resets_the_count(make_library, monkeypatch):
    library = make_library()
    many_files(Path(library.path), 6)
    job = services.scan_start(library_id=library.pk).job
    ScanJob.objects.filter(pk=job.pk).update(auto_resume_attempts=LIMIT - 1)
    real_insert = scanner.engine.catalogue.insert_files
    inserts = []

    def outage_after_one_batch(rows, *fields):
        if rows:  # each batch inserts its rows with one call (catalogue.FACT_FIELDS or not)
            inserts.append(rows)
        if len(inserts) > 1:
            raise OperationalError("server closed the connection unexpectedly")
        real_insert(rows, *fields)

    monkeypatch.setattr(scanner.engine.catalogue, "insert_files", outage_after_one_batch)
    monkeypatch.setattr("scanner.engine.retry.DB_RETRY_DELAYS", (0.01,))
    job = run_job(job, batch_size=2, auto_resume_max_attempts=LIMIT)

    assert (job.status, job.files_processed, job.auto_resume_attempts) == ("paused", 2, 0)
    assert job.resumes_automatically, "progress was made, so the count starts again"
