"""Writes to libraries: create, change, delete. The API and the admin both call these."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from common.locks import wait_for_lock
from libraries.models import Library
from libraries.paths import validate_library_path
from scanner.jobs.services import scan_end_for_deleted_library


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


def library_delete(*, library: Library) -> None:
    """Delete a library and its catalogue; its open scan ends failed and its thread stops."""
    with transaction.atomic():
        scan_end_for_deleted_library(library=library)
        library.delete()
