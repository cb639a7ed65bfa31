"""Writes to libraries: create, change, delete. The API and the admin both call these."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import transaction

from common.locks import wait_for_lock
from libraries.models import Library
from libraries.paths import validate_library_path
from scanner.jobs.services import scan_end_for_deleted_library
from scanner.models import ScanJob


def _others(exclude_id: int | None) -> list[tuple[str, str]]:
    others = Library.objects.exclude(pk=exclude_id) if exclude_id is not None else Library.objects.all()
    return list(others.values_list("name", "path"))


def clean_library_path(raw: str, *, library_id: int | None = None) -> str:
    """The path's real form, after the rules of libraries/paths.py (ValidationError otherwise)."""
    return validate_library_path(raw, others=_others(library_id))


@contextmanager
def library_paths_locked() -> Iterator[None]:
    """One library write at a time, from the path checks to the commit. Without it two requests,
    for P and for P/inner, each pass the overlap check before the other's row exists."""
    with transaction.atomic():
        wait_for_lock("library-paths")
        yield


def library_check_path_change(*, library: Library, path: str) -> None:
    """Inside the write's transaction: a library moves to another folder only while no scan of
    it is open. Its row is locked first, and a scan being queued locks it too
    (scanner/jobs/lifecycle.queue), so the two never interleave: the scan queued first makes
    this refuse, or the move committed first makes the scan walk the new folder."""
    assert transaction.get_connection().in_atomic_block, "call inside the change's transaction"
    if path == library.path:
        return
    list(Library.objects.select_for_update().filter(pk=library.pk).values_list("pk"))
    if ScanJob.objects.filter(library=library, status__in=ScanJob.OPEN_STATUSES).exists():
        raise ValidationError("Cancel or finish this library's scan before moving it.")


def library_delete(*, library: Library) -> None:
    """Delete a library and its catalogue; its open scan ends failed and its thread stops."""
    with transaction.atomic():
        scan_end_for_deleted_library(library=library)
        library.delete()
