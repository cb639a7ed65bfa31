"""Reads shared by the API, the admin, the commands and the services."""

from __future__ import annotations

from django.db.models import QuerySet

from scanner.models import ScanJob


def jobs_of_library(library_id: int) -> QuerySet[ScanJob]:
    return ScanJob.objects.filter(library_id=library_id).order_by("-created_at", "-id")


def open_job_of_library(library_id: int) -> ScanJob | None:
    return jobs_of_library(library_id).filter(status__in=ScanJob.OPEN_STATUSES).first()


def library_scan_status(library_id: int) -> ScanJob | None:
    """The library's open job, else its latest one, else None."""
    return open_job_of_library(library_id) or jobs_of_library(library_id).first()
