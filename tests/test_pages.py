"""The web pages and the admin: what each kind of user sees."""

from pathlib import Path

import pytest

from scanner.models import ScanEvent, ScanJob, Worker
from tests.helpers import build_tree, scan_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanned(make_library):
    library = make_library(name="Music")
    build_tree(Path(library.path))
    job = scan_now(library)
    return library, job


@pytest.mark.parametrize("url", ["/", "/libraries/1/", "/jobs/1/"])
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_the_dashboard_lists_libraries_with_their_scan(admin_client, scanned):
    library, job = scanned
    html = admin_client.get("/").content.decode()
    assert "Music" in html and library.path in html
    assert 'data-status="completed"' in html and "100.0%" in html
    assert job.status_message in html
    assert 'data-action="start"' in html and 'id="add-library"' in html
    assert "js/scans.js" in html


def test_the_pages_say_who_watches_what_waits_and_what_a_targeted_scan_covers(viewer, make_library):
    from scanner.jobs import services
    from scanner.models import LibraryWatch, PendingChange
    from tests.helpers import make_worker

    watched, unwatched = make_library(name="Watched"), make_library(name="Unwatched", watch=False)
    worker = make_worker()
    for folder in ("Artist/Album", "Films"):
        (Path(watched.path) / folder).mkdir(parents=True)
    LibraryWatch.objects.create(library=watched, worker=worker, partial=True, note="the inotify limit was reached")
    services.scan_start(library_id=watched.pk, paths=["Artist/Album", "Films"])
    services.scan_pause(library_id=watched.pk)
    PendingChange.objects.create(library=watched, path="Other", trigger="notify")

    html = viewer.get("/").content.decode()
    assert f"Watched by {worker.label}" in html and "in part: the inotify limit was reached" in html
    assert "1 change waiting for a scan" in html
    assert "Only Artist/Album, Films" in html
    assert '<dd data-field="phase">paused</dd>' in html
    assert "Not watched (watching is off for this library)" in html
    assert f"Watched by {worker.label}" in viewer.get(f"/libraries/{watched.pk}/").content.decode()
    assert "Not watched" in viewer.get(f"/libraries/{unwatched.pk}/").content.decode()


def test_users_see_progress_but_no_controls(viewer, scanned):
    html = viewer.get("/").content.decode()
    assert "Music" in html and 'data-status="completed"' in html
    assert 'data-action="' not in html and 'id="add-library"' not in html


def test_the_library_page_lists_filters_and_pages_the_catalogue(viewer, scanned):
    library, job = scanned
    page = viewer.get(f"/libraries/{library.pk}/").content.decode()
    assert "Artist 1/Album 1/" in page and f"/jobs/{job.pk}/" in page
    audio = viewer.get(f"/libraries/{library.pk}/", {"kind": "image"}).content.decode()
    assert "beach.jpg" in audio and "Artist 1/Album 1/" not in audio
    searched = viewer.get(f"/libraries/{library.pk}/", {"search": "big film"}).content.decode()
    assert "Big Film.mp4" in searched and "beach.jpg" not in searched
    assert viewer.get(f"/libraries/{library.pk}/", {"kind": "nonsense"}).status_code == 200
    assert viewer.get("/libraries/999/").status_code == 404


def test_the_job_page_shows_its_timeline(viewer, scanned):
    _, job = scanned
    html = viewer.get(f"/jobs/{job.pk}/").content.decode()
    kinds = list(ScanEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds == ["queued", "claimed", "started", "completed"]
    for kind in kinds:
        assert f'<span class="tag">{kind}</span>' in html
    assert viewer.get("/jobs/999/").status_code == 404


def test_the_admin_pages_render(admin_client, scanned):
    library, job = scanned
    Worker.objects.create(hostname="elsewhere", pid=1)
    for url in ["/admin/scanner/scanjob/", f"/admin/scanner/scanjob/{job.pk}/change/", "/admin/scanner/scanevent/",
                "/admin/scanner/worker/", "/admin/libraries/mediafile/?kind__exact=audio&missing__exact=0",
                f"/admin/libraries/library/{library.pk}/change/", "/admin/libraries/library/add/"]:
        assert admin_client.get(url).status_code == 200, url
    change = admin_client.get(f"/admin/libraries/library/{library.pk}/change/").content.decode()
    assert "recent scans (last 10)" in change.lower() and f"/admin/scanner/scanjob/{job.pk}/change/" in change


def test_admin_actions_use_the_scan_services(admin_client, make_library):
    library = make_library()
    response = admin_client.post("/admin/libraries/library/", {"action": "scan_now", "_selected_action": [library.pk]})
    assert response.status_code == 302
    job = ScanJob.objects.get(library=library)
    assert job.status == "pending"
    admin_client.post("/admin/scanner/scanjob/", {"action": "pause_scans", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert (job.status, job.pause_reason) == ("paused", "user")
    admin_client.post("/admin/scanner/scanjob/", {"action": "resume_scans", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert (job.status, job.resume_count) == ("pending", 1)
    admin_client.post("/admin/scanner/scanjob/", {"action": "cancel_scans", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "cancelled"
    response = admin_client.post("/admin/scanner/scanjob/", {"action": "recover_now", "_selected_action": [job.pk]},
                                 follow=True)
    assert "Nothing to recover" in response.content.decode()


def test_the_worker_admin_says_which_workers_are_alive(admin_client):
    import os

    from scanner.core import procinfo

    Worker.objects.create(hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(), pid=os.getpid(),
                          process_started=procinfo.process_start_ticks())
    Worker.objects.create(hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(), pid=os.getpid(),
                          process_started=procinfo.process_start_ticks() + 7)
    html = admin_client.get("/admin/scanner/worker/").content.decode()
    assert html.count(">alive</span>") == 1 and html.count(">dead</span>") == 1


def test_long_lists_page_and_keep_their_filters(viewer, make_library):
    from django.utils import timezone

    from libraries.models import MediaFile

    library = make_library(name="Big")
    now = timezone.now()
    MediaFile.objects.bulk_create([MediaFile(library=library, path=f"{i:03d}.mkv", size=1, mtime_ns=1, kind="video",
                                             extension="mkv", first_seen=now, last_seen=now) for i in range(150)])
    html = viewer.get(f"/libraries/{library.pk}/?kind=video").content.decode()
    assert "Page 1 of 2" in html and '<a href="?kind=video&page=2">Next ›</a>' in html
    html = viewer.get(f"/libraries/{library.pk}/?kind=video&page=2").content.decode()
    assert '<a href="?kind=video&page=1">‹ Previous</a>' in html and "Next ›" not in html
