import pytest
from django.db import IntegrityError, transaction

from scanner.models import ScanJob

pytestmark = pytest.mark.django_db

OPEN = [ScanJob.Status.PENDING, ScanJob.Status.RUNNING, ScanJob.Status.PAUSED]
CLOSED = [ScanJob.Status.COMPLETED, ScanJob.Status.FAILED, ScanJob.Status.CANCELLED]


def test_a_job_needs_only_its_library(make_library):
    job = ScanJob.objects.create(library=make_library())
    job.refresh_from_db()
    assert (job.status, job.mode, job.progress, job.lease_token, job.checkpoint) == ("pending", "quick", 0, 0, "")


@pytest.mark.parametrize("first", OPEN)
@pytest.mark.parametrize("second", OPEN)
def test_a_second_open_job_for_a_library_is_refused(make_library, first, second):
    library = make_library()
    ScanJob.objects.create(library=library, status=first)
    with pytest.raises(IntegrityError), transaction.atomic():
        ScanJob.objects.create(library=library, status=second)
    assert ScanJob.objects.filter(library=library).count() == 1


def test_finished_jobs_do_not_count_as_open(make_library):
    library = make_library()
    for status in CLOSED * 2:
        ScanJob.objects.create(library=library, status=status)
    ScanJob.objects.create(library=library, status=ScanJob.Status.RUNNING)
    assert ScanJob.objects.filter(library=library).count() == 7


def test_an_open_job_cannot_be_reopened_beside_another(make_library):
    library = make_library()
    done = ScanJob.objects.create(library=library, status=ScanJob.Status.COMPLETED)
    ScanJob.objects.create(library=library, status=ScanJob.Status.PAUSED)
    with pytest.raises(IntegrityError), transaction.atomic():
        ScanJob.objects.filter(pk=done.pk).update(status=ScanJob.Status.PENDING)


def test_other_libraries_are_independent(make_library):
    a, b = make_library(), make_library()
    ScanJob.objects.create(library=a, status=ScanJob.Status.RUNNING)
    ScanJob.objects.create(library=b, status=ScanJob.Status.RUNNING)
    assert ScanJob.objects.filter(status="running").count() == 2


def test_progress_stays_within_0_and_100(make_library):
    job = ScanJob.objects.create(library=make_library())
    with pytest.raises(IntegrityError), transaction.atomic():
        ScanJob.objects.filter(pk=job.pk).update(progress=101)


def test_deleting_a_library_keeps_its_scan_history(make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status=ScanJob.Status.COMPLETED)
    library.delete()
    job.refresh_from_db()
    assert job.library is None
