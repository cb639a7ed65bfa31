"""Outages and failures told apart (mediaserver/dberrors.py), and what a scan does with each."""

from pathlib import Path

import pytest
from django.db import DatabaseError, connection

from mediaserver.dberrors import is_outage
from scanner.models import ScanEvent
from scanner.recovery import recover_scans
from tests.dbfaults import raise_failure, raise_outage
from tests.helpers import fresh, many_files, run_job, scan_now

pytestmark = pytest.mark.django_db(transaction=True)


def caught(raise_it) -> DatabaseError:
    with pytest.raises(DatabaseError) as raised:
        raise_it()
    return raised.value


def test_a_real_outage_and_a_real_failure_are_told_apart():
    assert is_outage(caught(raise_outage))
    connection.close()  # a new connection for what follows
    assert not is_outage(caught(raise_failure))


def test_an_error_a_retry_cannot_fix_fails_the_scan_with_its_message(make_library, monkeypatch):
    library = make_library()
    many_files(Path(library.path), 5)
    monkeypatch.setattr("scanner.walk.Walker.count", lambda *args, **kwargs: raise_failure())
    job = scan_now(library)
    assert (job.status, job.pause_reason, job.resumes_automatically) == ("failed", None, False)
    assert "OperationalError" in job.error_message and "unexpected error" in job.status_message
    assert recover_scans().decisions == [], "a failed job is never resumed"


def test_an_early_outage_pauses_the_scan_and_it_resumes_whatever_its_progress(make_library, monkeypatch):
    """An outage before the first file: nothing processed, yet the job resumes once the
    database answers, because its process lived (DESIGN.md 5)."""
    library = make_library()
    many_files(Path(library.path), 5)
    with monkeypatch.context() as patch:
        patch.setattr("scanner.walk.Walker.count", lambda *args, **kwargs: raise_outage())
        job = scan_now(library)
    assert (job.status, job.pause_reason, job.files_processed) == ("paused", "interrupted", 0)
    assert "database error" in job.status_message and job.resumes_automatically

    recover_scans()
    assert (fresh(job).status, fresh(job).trigger) == ("pending", "auto_resume")
    done = run_job(fresh(job))
    assert (done.status, done.files_processed) == ("completed", 5)
    kinds = list(ScanEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds[-5:] == ["interrupted", "auto_resumed", "claimed", "started", "completed"]
