"""Which paths each *arr webhook event implies (scanner/jobs/arr.py), in-process: the events the
server tests (tests/test_arr_hooks.py) do not post, and the schema that documents the endpoints."""

import json
from pathlib import Path

import pytest

from scanner.conf import parse_path_map
from tests.helpers import config

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "arr"


@pytest.fixture
def tv_and_books(make_library, settings, tmp_path):
    tv, books = make_library(path=tmp_path / "tv"), make_library(path=tmp_path / "books")
    settings.SCANNER = config(path_map=parse_path_map(f"/tv={tv.path};/books={books.path};/movies={tv.path}"))
    return tv, books


def queued(staff_client, body, method="post"):
    response = getattr(staff_client, method)("/api/hooks/arr", body, format="json")
    assert response.status_code == 202, response.content
    return [(change["library"], change["path"]) for change in response.json()["queued"]]


def test_readarr_and_lidarr_events_name_their_files_and_folders(staff_client, tv_and_books):
    _, books = tv_and_books
    author = {"id": 2, "name": "Ursula K. Le Guin", "path": "/books/Ursula K. Le Guin"}
    book_file = {"id": 9, "path": "/books/Ursula K. Le Guin/The Dispossessed/The Dispossessed.epub", "size": 1}
    # Readarr src/NzbDrone.Core/Notifications/Webhook/WebhookImportPayload.cs (bookFiles, deletedFiles)
    assert queued(staff_client, {"eventType": "Download", "author": author, "bookFiles": [book_file],
                                 "deletedFiles": [{**book_file, "path": "/books/Ursula K. Le Guin/old.mobi"}],
                                 "isUpgrade": True}) == [
        (books.pk, "Ursula K. Le Guin/The Dispossessed/The Dispossessed.epub"),
        (books.pk, "Ursula K. Le Guin/old.mobi")]
    # WebhookBookFileDeletePayload.cs, WebhookRetagPayload.cs, WebhookBookDeletePayload.cs (no path of its own)
    for event in ("BookFileDelete", "Retag"):
        assert queued(staff_client, {"eventType": event, "author": author, "bookFile": book_file}) == [
            (books.pk, "Ursula K. Le Guin/The Dispossessed/The Dispossessed.epub")]
    assert queued(staff_client, {"eventType": "BookDelete", "author": author, "book": {"id": 1},
                                 "deletedFiles": True}) == [(books.pk, "Ursula K. Le Guin")]
    # Lidarr WebhookAlbumDeletePayload.cs: the album has no path, its artist's folder is scanned
    assert queued(staff_client, {"eventType": "AlbumDelete", "artist": {**author, "path": "/books/An Artist"},
                                 "album": {"id": 3}, "deletedFiles": True}) == [(books.pk, "An Artist")]


def test_sonarr_import_complete_radarr_movie_delete_and_an_old_rename(staff_client, tv_and_books):
    tv, _ = tv_and_books
    body = json.loads((FIXTURES / "sonarr_download.json").read_text())
    files = [dict(body["episodeFile"], path=f"/tv/Severance/Season 01/e0{n}.mkv") for n in (1, 2)]
    # Sonarr v4 WebhookImportCompletePayload.cs: eventType Download, a list of episodeFiles
    assert queued(staff_client, {"eventType": "Download", "series": body["series"], "episodeFiles": files}) == [
        (tv.pk, "Severance/Season 01/e01.mkv"), (tv.pk, "Severance/Season 01/e02.mkv")]
    # Radarr WebhookMovieDeletePayload.cs: movie.folderPath; PUT is the connection's other method
    assert queued(staff_client, {"eventType": "MovieDelete", "movie": {"id": 1, "folderPath": "/movies/Heat (1995)"},
                                 "deletedFiles": True}, method="put") == [(tv.pk, "Heat (1995)")]
    # A Rename from before renamedEpisodeFiles existed names the series only: its folder is scanned
    assert queued(staff_client, {"eventType": "Rename", "series": body["series"]}) == [(tv.pk, "Severance")]


def test_the_endpoints_are_in_the_openapi_schema(staff_client):
    paths = staff_client.get("/api/schema/?format=json").json()["paths"]
    assert {"post", "put"} <= set(paths["/api/hooks/arr/"])
    assert set(paths["/Library/Media/Updated/"]) == {"post"}
    assert {"/System/Configuration/", "/System/Info/", "/Items/", "/Notifications/Admin/",
            "/Library/VirtualFolders/"} <= set(paths)
