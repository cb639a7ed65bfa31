"""Outages and failures told apart (common/dberrors.py), and what a scan does with each."""

from pathlib import Path

import pytest
from django.db import DatabaseError, connection

from common.dberrors import is_outage
from libraries.models import MediaFile
from scanner.jobs import services
from scanner.jobs.recovery import recover_scans
from scanner.models import ScanEvent
from tests.dbfaults import lose_the_connection, raise_failure, raise_outage
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
    monkeypatch.setattr("scanner.core.walk.Walker.count", lambda *args, **kwargs: raise_failure())
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
        patch.setattr("scanner.core.walk.Walker.count", lambda *args, **kwargs: raise_outage())
        job = scan_now(library)
    assert (job.status, job.pause_reason, job.files_processed) == ("paused", "interrupted", 0)
    assert "database error" in job.status_message and job.resumes_automatically

    recover_scans()
    assert (fresh(job).status, fresh(job).trigger, fresh(job).resume_count) == ("pending", "manual", 1)
    done = run_job(fresh(job))
    assert (done.status, done.files_processed) == ("completed", 5)
    kinds = list(ScanEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds[-5:] == ["interrupted", "auto_resumed", "claimed", "started", "completed"]


def test_a_connection_lost_while_new_rows_are_copied_is_an_outage_not_a_failure(make_library):
    """PostgreSQL writes new catalogue rows with psycopg's COPY, past Django's cursor: a server
    restart then must still count as an outage (retried, or paused to resume), not a failure."""
    if connection.vendor != "postgresql":
        pytest.skip("COPY is the PostgreSQL path")
    library = make_library()
    many_files(Path(library.path), 30)
    job = services.scan_start(library_id=library.pk).job
    lost = []

    def lose_the_connection_before_the_copy(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "scanner_scanjob"') and '"checkpoint"' in sql and not lost:
            lost.append(True)
            lose_the_connection()  # inside the batch's transaction, before its COPY
        return result

    with connection.execute_wrapper(lose_the_connection_before_the_copy):
        done = run_job(job, batch_size=10, metadata_workers=0)
    assert lost and done.status == "completed", (done.status, done.error_message)
    assert (done.files_added, MediaFile.objects.filter(library=library).count()) == (30, 30)
