"""Moves keep identity, whichever scans see the two halves (DESIGN.md 8, issue 22 c).

A file moved from one folder to another keeps its row (id, first_seen, tags) when the new place
is scanned first and the old one later (what Sonarr's two notifications do), when the old place
is scanned first, and when the move happens while a whole scan is paused between them. A row
missing for longer than SCANNER_MOVE_WINDOW_DAYS is not taken again, and a name shared on one
side still pairs nothing.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models.functions import Now

from libraries.models import MediaFile
from scanner.jobs import changes, services
from scanner.models import ScanJob
from tests import media
from tests.helpers import STAT_ONLY, fresh, run_job, scan_now

pytestmark = pytest.mark.django_db(transaction=True)


def notified_scan(library, *rels: str) -> ScanJob:
    """A notification of these places, and the targeted scan it queues, run to completion."""
    changes.note_changes([f"{library.path}/{rel}" for rel in rels])
    job = ScanJob.objects.get(library=library, status="pending")
    return run_job(job)


@pytest.fixture
def album(make_library):
    """A library with one tagged file in 'Incoming/', catalogued: (library, root, its row)."""
    library = make_library()
    root = Path(library.path)
    (root / "Incoming").mkdir()
    (root / "Other").mkdir()
    (root / f"Other/keep.{STAT_ONLY}").write_bytes(b"k")
    media.write_mp3(root / "Incoming/01 Song.mp3", tags={"title": "Song"})
    scan_now(library)
    return library, root, MediaFile.objects.get(library=library, path="Incoming/01 Song.mp3")


def test_the_new_place_scanned_first_then_the_old_keeps_the_row(album):
    library, root, row = album
    (root / "Artist/Album").mkdir(parents=True)
    (root / "Incoming/01 Song.mp3").rename(root / "Artist/Album/01 Song.mp3")

    first = notified_scan(library, "Artist/Album")  # the import: the new file, as new for now
    assert first.files_added == 1
    second = notified_scan(library, "Incoming")  # later, the old folder: the row goes missing... or moves
    assert (second.files_moved, second.files_missing, second.files_added) == (1, 0, 0)

    moved = MediaFile.objects.get(library=library, path="Artist/Album/01 Song.mp3")
    assert (moved.pk, moved.first_seen, moved.title, moved.missing) == (row.pk, row.first_seen, "Song", False)
    assert MediaFile.objects.filter(library=library).count() == 2  # and the other file


def test_the_old_place_scanned_first_then_the_new_keeps_the_row(album):
    library, root, row = album
    (root / "Artist").mkdir()
    (root / "Incoming/01 Song.mp3").rename(root / "Artist/01 Song.mp3")

    gone = notified_scan(library, "Incoming")
    assert gone.files_missing == 1 and fresh(row).missing
    found = notified_scan(library, "Artist")
    assert (found.files_moved, found.files_added) == (1, 0)
    moved = MediaFile.objects.get(library=library, path="Artist/01 Song.mp3")
    assert (moved.pk, moved.first_seen, moved.title, moved.missing, moved.missing_since) == (
        row.pk, row.first_seen, "Song", False, None)


def test_a_move_while_a_whole_scan_is_paused_keeps_the_row(album):
    library, root, row = album
    job = services.scan_start(library_id=library.pk).job
    # Paused after the walk passed Incoming/ (it saw the file there), before Other/ and Z/.
    ScanJob.objects.filter(pk=job.pk).update(status="paused", pause_reason="user", checkpoint="Incoming/01 Song.mp3",
                                             files_processed=1, files_found=2, paused_at=Now())
    (root / "Z").mkdir()
    (root / "Incoming/01 Song.mp3").rename(root / "Z/01 Song.mp3")
    resumed = run_job(services.scan_resume(library_id=library.pk).job)
    assert resumed.files_added == 1  # the new place, seen as new: the old one was seen before the move
    again = scan_now(library)  # the next scan finds the old place gone
    assert (again.files_moved, again.files_missing) == (1, 0)
    moved = MediaFile.objects.get(library=library, path="Z/01 Song.mp3")
    assert (moved.pk, moved.first_seen, moved.title) == (row.pk, row.first_seen, "Song")


def test_a_row_missing_longer_than_the_window_is_not_taken_again(album, settings):
    library, root, row = album
    (root / "Incoming/01 Song.mp3").rename(root / "elsewhere.mp3")
    notified_scan(library, "Incoming")
    MediaFile.objects.filter(pk=row.pk).update(missing_since=Now() - timedelta(days=31))
    settings.SCANNER = dataclasses.replace(settings.SCANNER, move_window_days=30)
    found = notified_scan(library, "elsewhere.mp3")
    assert (found.files_moved, found.files_added) == (0, 1)
    assert fresh(row).missing and MediaFile.objects.get(library=library, path="elsewhere.mp3").pk != row.pk


def test_a_name_shared_on_one_side_pairs_nothing_across_scans(make_library):
    library = make_library()
    root = Path(library.path)
    for album_name in ("A", "B"):  # two albums' "01.mp3", same size and time
        (root / album_name).mkdir()
        path = root / album_name / "01.mp3"
        path.write_bytes(b"x" * 100)
        os.utime(path, ns=(10**18, 10**18))
    scan_now(library)
    (root / "C").mkdir()
    (root / "D").mkdir()
    (root / "A/01.mp3").rename(root / "C/01.mp3")
    (root / "B/01.mp3").rename(root / "D/01.mp3")
    notified_scan(library, "C", "D")
    gone = notified_scan(library, "A", "B")
    assert (gone.files_moved, gone.files_missing) == (0, 2)  # which went where cannot be told
