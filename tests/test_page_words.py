"""Numbers and words on the pages and in the scan's messages: thousands separated, plurals only
where they apply, "TV", durations as h:mm:ss, moves shown (issue 26, item 1)."""

import re
from pathlib import Path

import pytest
from django.utils import timezone

from libraries.models import MediaFile
from scanner.core import words
from scanner.jobs import services
from scanner.models import ScanJob
from tests.helpers import STAT_ONLY, scan_now

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("n, said", [(0, "0 files"), (1, "1 file"), (2, "2 files"), (20_000, "20,000 files")])
def test_counts_are_grouped_and_plural_only_where_it_applies(n, said):
    assert words.count(n, "file") == said


@pytest.mark.parametrize("seconds, said", [(None, ""), (0, "0:00:00"), (59.6, "0:01:00"), (7269, "2:01:09")])
def test_durations_are_hours_minutes_seconds(seconds, said):
    assert words.hms(seconds) == said


def test_one_file_scanned_is_one_file(viewer, make_library):
    library = make_library(name="Single", kind="tv")
    (Path(library.path) / f"one.{STAT_ONLY}").write_bytes(b"1")
    job = scan_now(library)

    assert job.status_message.startswith("Scanned 1 file: 1 added"), job.status_message
    dashboard = viewer.get("/").content.decode()
    assert "1 file catalogued" in dashboard and "Scanned 1 file:" in dashboard
    assert '<span class="tag">TV</span>' in dashboard and ">Tv<" not in dashboard
    assert "1 file catalogued" in viewer.get(f"/libraries/{library.pk}/").content.decode()


def test_thousands_are_separated_on_every_page(viewer, make_library):
    library = make_library(name="Big")
    now = timezone.now()
    MediaFile.objects.bulk_create([
        MediaFile(library=library, path=f"f{i:05d}.mkv", size=1, mtime_ns=1, kind="video", extension="mkv",
                  first_seen=now, last_seen=now) for i in range(20_000)], batch_size=2000)
    job = ScanJob.objects.create(library=library, status="completed", files_found=20_000, files_processed=20_000,
                                 files_added=12_345, files_moved=1_001, progress=100)

    assert "20,000 files catalogued" in viewer.get("/").content.decode()
    assert "20,000 / 20,000" in viewer.get("/").content.decode()
    library_page = viewer.get(f"/libraries/{library.pk}/").content.decode()
    assert "20,000 files catalogued" in library_page and "<td>20,000</td>" in library_page
    job_page = viewer.get(f"/jobs/{job.pk}/").content.decode()
    assert "<dd>12,345</dd>" in job_page and "<dt>Moved</dt><dd>1,001</dd>" in job_page


def test_a_running_scan_shows_its_eta_as_hours_minutes_seconds(viewer, make_library):
    library = make_library()
    ScanJob.objects.create(library=library, status="running", files_found=100_000, files_processed=1_000,
                           files_per_second=10, progress=1)  # 99,000 files left at 10/s: 2:45:00
    html = viewer.get("/").content.decode()
    assert '<dd data-field="eta">2:45:00</dd>' in html and "1,000 / 100,000" in html


def test_the_job_page_shows_a_move(viewer, make_library):
    library = make_library()
    root = Path(library.path)
    (root / "Incoming").mkdir()
    (root / f"Incoming/song.{STAT_ONLY}").write_bytes(b"song")
    scan_now(library)
    (root / "Artist").mkdir()
    (root / f"Incoming/song.{STAT_ONLY}").rename(root / f"Artist/song.{STAT_ONLY}")

    job = scan_now(library)

    assert (job.files_moved, job.files_added, job.files_missing) == (1, 0, 0)
    page = viewer.get(f"/jobs/{job.pk}/").content.decode()
    assert "<dt>Moved</dt><dd>1</dd>" in page and re.search(r"Scanned 1 file: .*, 1 moved", page)


def test_paused_and_queued_messages_count_files_in_words(make_library):
    library = make_library()
    services.scan_start(library_id=library.pk)
    paused = services.scan_pause(library_id=library.pk)
    assert paused.status_message == "Paused by user after 0 of 0 files"
    ScanJob.objects.filter(pk=paused.pk).update(files_found=1)
    cancelled = services.scan_cancel(library_id=library.pk)
    assert cancelled.status_message == "Cancelled by user after 0 of 1 file"
