"""A library's card shows the library's state: the catalogue's count, and its last scan with its
trigger and scope; the dashboard links to the password page (issue 26, item 3)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from libraries.models import MediaFile
from scanner.models import ScanJob

pytestmark = pytest.mark.django_db


def catalogue(library, n: int) -> None:
    now = timezone.now()
    MediaFile.objects.bulk_create([
        MediaFile(library=library, path=f"Artist/Album/{i:02d}.flac", size=1, mtime_ns=1, kind="audio",
                  extension="flac", first_seen=now, last_seen=now) for i in range(n)])


def test_after_a_watched_scan_of_four_files_the_card_shows_the_library_and_that_scan(viewer, make_library):
    library = make_library(name="Music")
    catalogue(library, 12)
    ScanJob.objects.create(library=library, status="completed", trigger="watch", scope=["Artist/Album"],
                           files_found=4, files_processed=4, progress=100,
                           completed_at=timezone.now() - timedelta(minutes=2, seconds=5))

    html = viewer.get("/").content.decode()

    assert "12 files catalogued" in html
    assert '<dd data-field="last">watch: Artist/Album, 4 files, 2 min ago</dd>' in html
    assert '<dt title="Files this scan went through, of those it found">Scanned</dt>' in html  # not "Files"


@pytest.mark.parametrize("fields, said", [
    ({}, "never"),
    ({"status": "running", "trigger": "catch_up", "files_processed": 1, "scope": ["a", "b", "c", "d"],
      "started_at": timedelta(hours=3)}, "catch-up: 4 paths (a, b, c, ...), 1 file, started 3 h ago"),
    ({"status": "pending", "trigger": "schedule"}, "schedule: the whole library, 0 files, queued just now"),
    ({"status": "completed", "trigger": "manual", "files_processed": 20_000, "completed_at": timedelta(days=1)},
     "manual: the whole library, 20,000 files, 1 day ago"),
])
def test_the_last_scan_says_what_started_it_what_it_covered_and_when(viewer, make_library, fields, said):
    library = make_library()
    if fields:
        now = timezone.now()
        ScanJob.objects.create(library=library, **{name: now - value if isinstance(value, timedelta) else value
                                                   for name, value in fields.items()})
    assert f'<dd data-field="last">{said}</dd>' in viewer.get(f"/libraries/{library.pk}/").content.decode()


def test_the_dashboard_links_to_the_password_page(viewer):
    html = viewer.get("/").content.decode()
    assert '<a href="/accounts/password_change/">Change password</a>' in html
    assert viewer.get("/accounts/password_change/").status_code == 200


def test_staff_get_scan_all_and_full_scan_buttons_and_viewers_do_not(viewer, admin_client, make_library):
    make_library(name="Music")
    staff = admin_client.get("/").content.decode()
    assert 'id="scan-all"' in staff and 'data-action="full"' in staff
    seen = viewer.get("/").content.decode()
    assert 'id="scan-all"' not in seen and 'data-action="full"' not in seen


def test_the_watch_line_is_served_alone_for_the_script_to_refresh(viewer, client, make_library):
    import os

    from scanner.models import LibraryWatch
    from tests.helpers import local_worker

    library = make_library(name="Music")
    url = f"/libraries/{library.pk}/watch-state/"
    assert "Not watched now" in viewer.get(url).content.decode()
    worker = local_worker(os.getpid())
    LibraryWatch.objects.create(library=library, worker=worker)
    line = viewer.get(url).content.decode()
    assert line.strip().startswith(f'<p class="watch" data-watch-state="{library.pk}">')
    assert f"Watched by {worker.label}" in line
    assert viewer.get("/libraries/999/watch-state/").status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_a_card_says_when_the_schedule_scans_and_scanned_last(viewer, make_library, settings):
    settings.TIME_ZONE = "UTC"
    library = make_library(name="Music")
    assert "No scheduled scans" in viewer.get("/").content.decode()
    library.scan_interval = timedelta(hours=6)
    library.save()
    job = ScanJob.objects.create(library=library, status="completed", trigger="schedule", files_found=1,
                                 files_processed=1, progress=100)
    job.refresh_from_db()
    html = viewer.get("/").content.decode()
    text = " ".join(re.sub(r"<[^>]+>", "", re.search(r"<p class=\"schedule muted\" data-schedule>(.*?)</p>", html,
                                                     re.S).group(1)).split())
    expected = (f"Scanned every 6 h · next {(job.created_at + timedelta(hours=6)):%Y-%m-%d %H:%M:%S} UTC · "
                f"last scheduled {job.created_at:%Y-%m-%d %H:%M:%S} UTC")
    assert text == expected
