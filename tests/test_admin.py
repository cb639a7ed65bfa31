"""The Django admin goes through the same rules and services as the API."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from libraries.models import Library
from scanner.models import ScanJob

pytestmark = pytest.mark.django_db


def test_the_admin_applies_the_library_path_rules(admin_client, make_library, tmp_path):
    existing = make_library(name="Music")
    response = admin_client.post("/admin/libraries/library/add/",
                                 {"name": "Dup", "path": existing.path + "/", "kind": "music"})
    assert response.status_code == 200 and "already uses this folder" in response.content.decode()
    (tmp_path / "films").mkdir()
    response = admin_client.post("/admin/libraries/library/add/",
                                 {"name": "Films", "path": f"{tmp_path}/films/", "kind": "movies"})
    assert response.status_code == 302
    assert Library.objects.get(name="Films").path == str(tmp_path / "films")


def test_deleting_in_the_admin_ends_the_open_scan(admin_client, make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="running")
    response = admin_client.post(f"/admin/libraries/library/{library.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "failed"


def test_api_tokens_are_created_with_drf_create_token(django_user_model):
    django_user_model.objects.create_user("robot", is_staff=True)
    out = io.StringIO()
    call_command("drf_create_token", "robot", stdout=out)
    assert "Generated token" in out.getvalue()


def test_the_admin_offers_scan_actions_only_with_the_api_s_permission(client, django_user_model, make_library):
    from django.contrib.auth.models import Permission

    library = make_library()
    job = ScanJob.objects.create(library=library, status="running")
    viewer = django_user_model.objects.create_user("looker", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_scanjob", "view_library"]))
    client.force_login(viewer)
    for url, action in [("/admin/scanner/scanjob/", "pause_scans"), ("/admin/libraries/library/", "scan_now")]:
        page = client.get(url)
        assert page.status_code == 200 and f'value="{action}"' not in page.content.decode()
    client.post("/admin/scanner/scanjob/", {"action": "pause_scans", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "running"

    viewer.user_permissions.add(Permission.objects.get(codename="change_scanjob"))
    viewer = django_user_model.objects.get(pk=viewer.pk)  # permissions are cached on the instance
    client.force_login(viewer)
    assert 'value="scan_now"' in client.get("/admin/libraries/library/").content.decode()
    client.post("/admin/scanner/scanjob/", {"action": "pause_scans", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "paused"


def test_the_admin_queues_a_full_scan(admin_client, make_library):
    library = make_library()
    response = admin_client.post("/admin/libraries/library/", {"action": "full_scan", "_selected_action": [library.pk]})
    assert response.status_code == 302
    job = ScanJob.objects.get(library=library)
    assert (job.mode, job.status) == ("full", "pending")


def test_the_admin_scans_chosen_folders_of_one_library(admin_client, make_library):
    library, other = make_library(), make_library()
    url = "/admin/libraries/library/"
    page = admin_client.post(url, {"action": "scan_folders", "_selected_action": [library.pk]})
    assert page.status_code == 200 and "Scan these folders" in page.content.decode()

    bad = admin_client.post(url, {"action": "scan_folders", "_selected_action": [library.pk], "paths": "../etc"})
    assert "contains &#x27;..&#x27;" in bad.content.decode() and not ScanJob.objects.exists()

    for folder in ("Films", "Music/Album"):  # a folder that is nowhere is refused (tests/test_api_shapes.py)
        (Path(library.path) / folder).mkdir(parents=True)
    done = admin_client.post(url, {"action": "scan_folders", "_selected_action": [library.pk],
                                   "paths": f"Films\n{library.path}/Music/Album\n\n"}, follow=True)
    assert "Queued a scan of Films, Music/Album" in done.content.decode()
    assert ScanJob.objects.get(library=library).scope == ["Films", "Music/Album"]

    both = admin_client.post(url, {"action": "scan_folders", "_selected_action": [library.pk, other.pk]},
                             follow=True)
    assert "Choose one library" in both.content.decode()


def test_the_admin_lists_watches_and_changes_waiting(admin_client, make_library):
    from scanner.models import LibraryWatch, PendingChange
    from tests.helpers import make_worker

    library = make_library(name="Watched")
    worker = make_worker()
    LibraryWatch.objects.create(library=library, worker=worker, partial=True, note="limit reached")
    PendingChange.objects.create(library=library, path="Album", trigger="watch")
    html = admin_client.get("/admin/libraries/library/").content.decode()
    assert f"{worker.label} (in part: limit reached)" in html
    assert admin_client.get("/admin/scanner/pendingchange/").status_code == 200
    assert "Album" in admin_client.get("/admin/scanner/pendingchange/").content.decode()
    assert "limit reached" in admin_client.get("/admin/scanner/librarywatch/").content.decode()


def test_the_admin_says_library_watches_and_lists_each_scan_s_trigger(admin_client, make_library):
    """Issue 26, item 6."""
    index = admin_client.get("/admin/").content.decode()
    assert "Library watches" in index and "Library watchs" not in index
    library = make_library(name="Music")
    ScanJob.objects.create(library=library, status="completed", trigger="catch_up")
    jobs = admin_client.get("/admin/scanner/scanjob/").content.decode()
    assert 'column-trigger">' in jobs and '<td class="field-trigger">Catch-up</td>' in jobs
