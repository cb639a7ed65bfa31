"""Libraries and their catalogue through the REST API (DESIGN.md 6)."""

from pathlib import Path

import pytest

from libraries.models import Library
from scanner.models import ScanJob
from tests.helpers import build_tree, scan_now

pytestmark = pytest.mark.django_db


def create(client, path, name="Films", kind="movies"):
    return client.post("/api/libraries/", {"name": name, "path": str(path), "kind": kind}, format="json")


def test_create_stores_the_real_path(staff_client, tmp_path):
    (tmp_path / "media/films").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "media")
    response = create(staff_client, f"{tmp_path}/link/../link/films/")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["path"] == str(tmp_path / "media/films") and body["kind"] == "movies"
    assert Library.objects.get(pk=body["id"]).path == str(tmp_path / "media/films")


@pytest.mark.parametrize("make_path, message", [
    (lambda t: "", "may not be blank"),
    (lambda t: "media/films", "must be absolute"),
    (lambda t: t / "nowhere", "No such folder"),
    (lambda t: (t / "file.mkv").write_bytes(b"") or t / "file.mkv", "Not a folder"),
])
def test_bad_paths_are_refused_with_a_reason(staff_client, tmp_path, make_path, message):
    response = create(staff_client, make_path(tmp_path))
    assert response.status_code == 400
    assert message in response.json()["path"][0]


def test_a_path_outside_the_media_roots_is_refused(staff_client, tmp_path, settings):
    (tmp_path / "allowed/films").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "allowed/sneaky").symlink_to(tmp_path / "elsewhere")
    settings.MEDIA_ROOTS = [str(tmp_path / "allowed")]
    assert create(staff_client, tmp_path / "allowed/films").status_code == 201
    for path in (tmp_path / "elsewhere", tmp_path / "allowed/sneaky", f"{tmp_path}/allowed/../elsewhere"):
        response = create(staff_client, path, name="x")
        assert response.status_code == 400 and "inside one of the media roots" in response.json()["path"][0]


def test_libraries_never_share_nest_or_contain_each_other(staff_client, tmp_path):
    (tmp_path / "media/music/jazz").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "media/music")
    assert create(staff_client, tmp_path / "media/music", name="Music").status_code == 201
    cases = {
        tmp_path / "alias": "already uses this folder",
        f"{tmp_path}/media/music/": "already uses this folder",
        tmp_path / "media/music/jazz": "inside the library 'Music'",
        tmp_path / "media": "contains the library 'Music'",
    }
    for path, message in cases.items():
        response = create(staff_client, path, name="Other")
        assert response.status_code == 400 and message in response.json()["path"][0], path


def test_the_path_rules_apply_to_a_change_too(staff_client, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    a = create(staff_client, tmp_path / "a", name="A").json()
    create(staff_client, tmp_path / "b", name="B")
    response = staff_client.patch(f"/api/libraries/{a['id']}/", {"path": str(tmp_path / "b")}, format="json")
    assert response.status_code == 400 and "already uses this folder" in response.json()["path"][0]
    response = staff_client.patch(f"/api/libraries/{a['id']}", {"name": "Renamed", "path": str(tmp_path / "a/")},
                                  format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"


def test_a_library_cannot_move_while_it_is_being_scanned(staff_client, make_library, tmp_path):
    library = make_library()
    ScanJob.objects.create(library=library, status="running")
    (tmp_path / "new").mkdir()
    response = staff_client.patch(f"/api/libraries/{library.pk}/", {"path": str(tmp_path / "new")}, format="json")
    assert response.status_code == 400 and "before moving it" in response.json()["path"][0]


@pytest.mark.parametrize("body, field", [
    ({"name": "", "path": "/tmp", "kind": "movies"}, "name"),
    ({"name": "x", "path": "/tmp", "kind": "cartoons"}, "kind"),
    ({"name": "x", "kind": "movies"}, "path"),
])
def test_other_fields_are_validated(staff_client, body, field):
    response = staff_client.post("/api/libraries/", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_malformed_json_is_a_400(staff_client):
    response = staff_client.post("/api/libraries/", '{"name": "x", "path": ', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    response = staff_client.post("/api/libraries/", '{"name": "\\ud800", "path": "/tmp"}',
                                 content_type="application/json")
    assert response.status_code == 400


def test_list_is_paginated_and_page_size_is_capped(staff_client, make_library):
    for _ in range(3):
        make_library()
    body = staff_client.get("/api/libraries/?page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert len(staff_client.get("/api/libraries?page_size=5000").json()["results"]) == 3


def test_read_change_delete_and_404s(staff_client, make_library):
    library = make_library(name="Old")
    assert staff_client.get(f"/api/libraries/{library.pk}").json()["name"] == "Old"
    assert staff_client.patch(f"/api/libraries/{library.pk}/", {"name": "New"}, format="json").json()["name"] == "New"
    for bad in (999, "abc", "1.5", "99999999999999999999999"):
        response = staff_client.get(f"/api/libraries/{bad}/")
        assert response.status_code == 404 and "detail" in response.json(), bad
    assert staff_client.delete(f"/api/libraries/{library.pk}/").status_code == 204
    assert staff_client.get(f"/api/libraries/{library.pk}/").status_code == 404


def test_deleting_a_library_ends_its_open_scan_failed(staff_client, make_library):
    library = make_library(name="Doomed")
    job = ScanJob.objects.create(library=library, status="running")
    assert staff_client.delete(f"/api/libraries/{library.pk}/").status_code == 204
    job.refresh_from_db()
    assert (job.status, job.library_id) == ("failed", None)
    assert "Doomed' was deleted" in job.error_message


def test_files_listing_with_filters(staff_client, make_library):
    library = make_library()
    truth = build_tree(Path(library.path))
    scan_now(library)
    (Path(library.path) / "Photos/beach.jpg").unlink()
    scan_now(library)
    url = f"/api/libraries/{library.pk}/files/"

    body = staff_client.get(url, {"page_size": 1000}).json()
    assert body["count"] == len(truth)
    first = body["results"][0]
    assert set(first) >= {"id", "path", "kind", "extension", "size", "mtime", "missing", "duration", "title", "artist",
                          "album", "track", "year", "first_seen", "last_seen"}
    assert [r["path"] for r in body["results"]] == sorted(truth)

    audio = staff_client.get(url, {"kind": "audio", "page_size": 1000}).json()
    assert audio["count"] == sum(1 for t in truth.values() if t["kind"] == "audio")
    assert staff_client.get(url, {"search": "artist 1"}).json()["count"] == 4
    assert staff_client.get(url, {"search": "TRACK 2", "kind": "audio"}).json()["count"] == 3
    missing = staff_client.get(url, {"missing": "true"}).json()
    assert [r["path"] for r in missing["results"]] == ["Photos/beach.jpg"]
    assert staff_client.get(url, {"kind": "podcast"}).status_code == 400
    assert staff_client.get(url, {"missing": "perhaps"}).status_code == 400
    assert staff_client.get("/api/libraries/999/files/").status_code == 404


@pytest.mark.parametrize("interval, ok", [("00:00:30", False), ("00:05:00", True), ("6:00:00", True),
                                          ("400 00:00:00", False), ("-1 00:00:00", False)])
def test_scan_intervals_are_bounded(staff_client, tmp_path, interval, ok):
    (tmp_path / "tv").mkdir()
    response = staff_client.post("/api/libraries/", {"name": "TV", "path": str(tmp_path / "tv"), "kind": "tv",
                                                     "scan_interval": interval}, format="json")
    assert response.status_code == (201 if ok else 400), response.content
