"""Writes to libraries: create, change, delete. The API and the admin both call these."""

from __future__ import annotations

from django.db import transaction

from libraries.models import Library
from libraries.paths import validate_library_path
from scanner import jobstore
from scanner.events import record_event
from scanner.models import ScanJob
from scanner.runtime import current_runtime


def _others(exclude_id: int | None) -> list[tuple[str, str]]:
    return list(Library.objects.exclude(pk=exclude_id).values_list("name", "path"))


def clean_library_path(raw: str, *, library_id: int | None = None) -> str:
    """The path's real form, after the rules of libraries/paths.py (ValidationError otherwise)."""
    return validate_library_path(raw, others=_others(library_id))


def library_delete(*, library: Library) -> None:
    """Delete a library and its catalogue; its open scan ends failed and its thread stops."""
    with transaction.atomic():
        open_ids = list(
            ScanJob.objects.filter(library=library, status__in=ScanJob.OPEN_STATUSES).values_list("pk", flat=True)
        )
        message = f"The library '{library.name}' was deleted"
        ScanJob.objects.filter(pk__in=open_ids).update(
            status_message=message, error_message=message, **jobstore.finished_fields(ScanJob.Status.FAILED)
        )
        for job_id in open_ids:
            record_event(job_id, "failed", message, library_id=library.pk)
        library.delete()
    runtime = current_runtime()
    if runtime is not None:
        for job_id in open_ids:
            runtime.stop_local(job_id)
