"""A vanished folder of any size completes, in bounded memory (DESIGN.md 3.6).

Before: a rescan loaded every catalogue row of the gap into memory and flagged them with one
`id IN (...)` list, which SQLite refuses past its variable limit ("too many SQL variables"):
the scan was interrupted, auto-resumed and failed again, forever.
"""

import tracemalloc
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from libraries.models import Library, MediaFile
from scanner.core.entries import FileEntry
from scanner.engine import catalogue, dbtime, facts
from tests.helpers import many_files, scan_now

pytestmark = pytest.mark.django_db
CHUNK = 20_000


def catalogue_vanished_folder(library: Library, folder: str, count: int) -> None:
    """Catalogue rows of `count` files under `folder`, which is not on disk (deleted since)."""
    now = dbtime.db_datetime(timezone.now())
    for start in range(0, count, CHUNK):
        rows = [catalogue.insert_row(library.pk, FileEntry(f"{folder}/{i // 1000:04d}/{i % 1000:04d}.mkv", "video",
                                                           "mkv", 7, 1), facts.NO_FACTS, now=now, job_id=None)
                for i in range(start, min(count, start + CHUNK))]
        with transaction.atomic():
            catalogue.insert_files(rows)


def rescan_peak_memory(library: Library) -> tuple:
    tracemalloc.start()
    try:
        job = scan_now(library, batch_size=5000)
        return job, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_vanished_folder_of_300000_files_is_marked_missing_in_bounded_memory(make_library):
    library = make_library()
    many_files(Path(library.path), 40)
    scan_now(library)

    catalogue_vanished_folder(library, "Gone small", 30_000)
    small, small_peak = rescan_peak_memory(library)
    catalogue_vanished_folder(library, "Gone large", 300_000)
    large, large_peak = rescan_peak_memory(library)

    assert (small.status, small.files_missing) == ("completed", 30_000), small.error_message
    # The 30,000 gone since the scan before are not counted again.
    assert (large.status, large.files_missing, large.files_unchanged) == ("completed", 300_000, 40), large.error_message
    assert MediaFile.objects.filter(library=library, missing=True).count() == 330_000
    assert MediaFile.objects.filter(library=library, missing=False).count() == 40
    assert large_peak < 1.3 * small_peak, f"peak memory grew with the gap: {small_peak:,} -> {large_peak:,} bytes"
