"""Reads shared by the API, the admin, the commands and the services."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from libraries.models import Library, MediaFile
from scanner.conf import scanner_config
from scanner.models import LibraryWatch, PendingChange, ScanJob


def jobs_of_library(library_id: int) -> QuerySet[ScanJob]:
    return ScanJob.objects.filter(library_id=library_id).order_by("-created_at", "-id")


def open_job_of_library(library_id: int) -> ScanJob | None:
    return jobs_of_library(library_id).filter(status__in=ScanJob.OPEN_STATUSES).first()


def library_scan_status(library_id: int) -> ScanJob | None:
    """The library's open job, else its latest one, else None."""
    return open_job_of_library(library_id) or jobs_of_library(library_id).first()


def with_changes_waiting(libraries: QuerySet[Library]) -> QuerySet[Library]:
    """Libraries with `changes_waiting`, their pending changes (subqueries: exact beside other
    counts of joined rows), `changes_stuck`, those that stopped after repeated failures and wait
    for a person, with `changes_stuck_reason`, and their watch lease."""
    pending = PendingChange.objects.filter(library=OuterRef("pk"))
    stuck = pending.filter(failures__gte=scanner_config().changes_max_attempts)
    # Places noted before an open scan of the whole library wait for nothing but it (changes._queue_one).
    covered = ScanJob.objects.filter(library=OuterRef("library"), status__in=ScanJob.OPEN_STATUSES, scope=[],
                                     created_at__gt=OuterRef("created_at"))
    return libraries.select_related("watcher__worker").annotate(
        changes_waiting=Coalesce(Subquery(_count(pending.exclude(Exists(covered)))), 0),
        changes_stuck=Coalesce(Subquery(_count(stuck)), 0),
        changes_stuck_reason=Subquery(stuck.order_by("-id").values("reason")[:1]))


def _count(rows: QuerySet) -> QuerySet:
    return rows.values("library").annotate(n=Count("pk")).values("n")


def watch_of(library: Library) -> LibraryWatch | None:
    """The library's watch lease (its holder's row goes when the holder is found dead or exits)."""
    try:
        return library.watcher
    except ObjectDoesNotExist:
        return None


def is_watched(library: Library) -> bool:
    return watch_of(library) is not None


def catalogued_under(library_id: int, path: str) -> bool:
    """Rows of the library at `path` or under it, present or missing. Paths under "a" are those
    from "a/" up to "a0" ("0" follows "/"): the byte order of the walk and of the C collation."""
    rows = MediaFile.objects.filter(library_id=library_id)
    return rows.filter(Q(path=path) | Q(path__gte=f"{path}/", path__lt=f"{path}0")).exists()


def catalogued_elsewhere(library_id: int, device: int) -> bool:
    """Files of the library are catalogued, none of them on `device` (the one its folder is on
    now): an empty folder is then a share's mount point with the share not mounted, not a
    library whose files were deleted. Rows with no device recorded count as elsewhere."""
    present = MediaFile.objects.filter(library_id=library_id, missing=False)
    return present.exists() and not present.filter(device=device).exists()
