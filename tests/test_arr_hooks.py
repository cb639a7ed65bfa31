"""Sonarr, Radarr, Lidarr and Jellyfin-speaking tools notifying a real gunicorn (DESIGN.md 10).

The bodies are tests/fixtures/arr/*.json, shaped after the tools' own payload classes (each
file's "//" names the class it follows; the key is dropped before sending). They carry the
paths the tools see in their containers (/tv, /movies, /music): the server maps them with
SCANNER_PATH_MAP, and each test checks what the catalogue holds afterwards.
"""

import base64
import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from libraries.models import MediaFile
from scanner.models import PendingChange, ScanJob
from tests.helpers import make_operator, present_paths
from tests.procs import Gunicorn, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

FIXTURES = Path(__file__).parent / "fixtures" / "arr"
FAST = {"SCANNER_HEARTBEAT_INTERVAL": "0.3", "SCANNER_WORKER_TIMEOUT": "2", "SCANNER_CLAIM_INTERVAL": "0.2",
        "SCANNER_METADATA_WORKERS": "0", "LOGIN_FAILURE_LIMIT": "6"}
EPISODE = "Severance/Season 01/Severance - S01E01 - Good News About Hell"
OLD, NEW, RENAMED = (f"{EPISODE} WEBDL-1080p.mkv", f"{EPISODE} Bluray-1080p.mkv",
                     "Severance/Season 01/Severance (2022) - S01E01 - Good News About Hell.mkv")


def payload(name: str) -> dict:
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    body.pop("//")
    return body


@pytest.fixture
def libraries(make_library, tmp_path):
    return {kind: make_library(name=kind, path=tmp_path / "srv/media" / kind) for kind in ("tv", "films", "music")}


@pytest.fixture
def server(tmp_path, libraries):
    path_map = f"/tv={libraries['tv'].path};/movies={libraries['films'].path};/music={libraries['music'].path}"
    started = Gunicorn(tmp_path, env={**FAST, "SCANNER_PATH_MAP": path_map}).start(ready_path="/api/health/")
    yield started
    started.kill()


@pytest.fixture
def token(django_user_model):
    return Token.objects.create(user=make_operator("sonarr")).key


def call(server: Gunicorn, method: str, path: str, body=None, **headers) -> tuple[int, dict | str | None, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, answer_headers = error.code, error.read(), error.headers
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = raw.decode()  # django-axes' lockout answer is plain text
    return status, answer, dict(answer_headers)


def basic(token: str, user: str = "sonarr") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def hook(server, token, name: str, **changes) -> tuple[int, dict]:
    """Post a fixture to the webhook as Sonarr does with a user name and password."""
    status, body, _ = call(server, "POST", "/api/hooks/arr", {**payload(name), **changes},
                           Authorization=basic(token))
    return status, body


def write(path: Path, content: bytes = b"video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def caught_up(library) -> None:
    """Every notified change of the library has been scanned."""
    wait_until(lambda: not PendingChange.objects.filter(library=library).exists() and not ScanJob.objects.filter(
        library=library, status__in=ScanJob.OPEN_STATUSES).exists(), timeout=30, what="the changes to be scanned")


def row(library, path: str) -> MediaFile:
    return MediaFile.objects.get(library=library, path=path)


def test_sonarr_download_then_upgrade_are_catalogued(server, token, libraries):
    tv = libraries["tv"]
    root = Path(tv.path)
    write(root / OLD)

    status, body = hook(server, token, "sonarr_download")
    assert status == 202 and body == {"event": "Download", "queued": [{"library": tv.pk, "path": OLD}],
                                      "ignored": []}, body
    caught_up(tv)
    assert present_paths(tv) == {OLD}
    assert ScanJob.objects.get(library=tv).trigger == "notify"

    write(root / NEW, b"a better video")
    (root / OLD).unlink()  # Sonarr deleted (or recycled) the file the upgrade replaced
    status, body = hook(server, token, "sonarr_upgrade")
    assert status == 202 and body["queued"] == [{"library": tv.pk, "path": NEW}, {"library": tv.pk, "path": OLD}]
    caught_up(tv)
    assert present_paths(tv) == {NEW} and row(tv, OLD).missing


def test_a_rename_through_the_webhook_keeps_the_files_row(server, token, libraries):
    tv, films, music = libraries["tv"], libraries["films"], libraries["music"]
    write(Path(tv.path) / OLD)
    film = write(Path(films.path) / "Heat (1995)/Heat.1995.1080p.BluRay.x264-AMIABLE.mkv")
    track = write(Path(music.path) / "Nina Simone/Little Girl Blue (1959)/01 - Mood Indigo.flac", b"flac")
    write(Path(music.path) / "Nina Simone/Little Girl Blue (1959)/02 - Don't Smoke in Bed.flac", b"flac 2")
    for name in ("sonarr_download", "radarr_download", "lidarr_download"):
        assert hook(server, token, name)[0] == 202
    for library in libraries.values():
        caught_up(library)
    before = {row(tv, OLD).pk, row(films, "Heat (1995)/Heat.1995.1080p.BluRay.x264-AMIABLE.mkv").pk,
              row(music, "Nina Simone/Little Girl Blue (1959)/01 - Mood Indigo.flac").pk}
    assert len(present_paths(music)) == 2  # both trackFiles

    os.rename(Path(tv.path) / OLD, Path(tv.path) / RENAMED)
    os.rename(film, film.with_name("Heat (1995) Bluray-1080p.mkv"))
    os.rename(track, track.with_name("01 Mood Indigo.flac"))
    for name in ("sonarr_rename", "radarr_rename", "lidarr_rename"):
        status, body = hook(server, token, name)
        assert status == 202 and len(body["queued"]) == 2, body  # the old path and the new
    for library in libraries.values():
        caught_up(library)

    assert present_paths(tv) == {RENAMED}
    assert "Heat (1995)/Heat (1995) Bluray-1080p.mkv" in present_paths(films)
    assert "Nina Simone/Little Girl Blue (1959)/01 Mood Indigo.flac" in present_paths(music)
    after = {row(tv, RENAMED).pk, row(films, "Heat (1995)/Heat (1995) Bluray-1080p.mkv").pk,
             row(music, "Nina Simone/Little Girl Blue (1959)/01 Mood Indigo.flac").pk}
    assert after == before  # the same rows, moved: not missing plus added
    assert not MediaFile.objects.filter(missing=True).exists()
    assert sum(ScanJob.objects.values_list("files_moved", flat=True)) == 3


def test_deletes_mark_the_file_or_the_whole_folder_missing(server, token, libraries):
    tv, films = libraries["tv"], libraries["films"]
    write(Path(tv.path) / OLD)
    write(Path(tv.path) / "Severance/Season 01/Severance - S01E02 - Half Loop.mkv")
    film = write(Path(films.path) / "Heat (1995)/Heat (1995) Bluray-1080p.mkv")
    for library in (tv, films):
        status, body, _ = call(server, "POST", f"/api/scanner/start/{library.pk}", Authorization=f"Token {token}")
        assert status == 201, body
        caught_up(library)

    (Path(tv.path) / OLD).unlink()
    film.unlink()
    assert hook(server, token, "sonarr_episode_file_delete")[0] == 202
    assert hook(server, token, "radarr_movie_file_delete")[0] == 202
    caught_up(tv), caught_up(films)
    assert present_paths(tv) == {"Severance/Season 01/Severance - S01E02 - Half Loop.mkv"}
    assert present_paths(films) == set() and row(films, "Heat (1995)/Heat (1995) Bluray-1080p.mkv").missing

    shutil.rmtree(Path(tv.path) / "Severance")
    status, body = hook(server, token, "sonarr_series_delete")
    assert status == 202 and body["queued"] == [{"library": tv.pk, "path": "Severance"}], body
    caught_up(tv)
    assert present_paths(tv) == set()


def test_a_test_of_each_stores_nothing_and_events_that_change_no_file_are_ignored(server, token, libraries):
    for name in ("sonarr_test", "radarr_test", "lidarr_test", "readarr_test"):
        status, body = hook(server, token, name)
        assert (status, body) == (200, {"event": "Test", "queued": [], "ignored": []}), name

    assert hook(server, token, "sonarr_grab") == (202, {"event": "Grab", "queued": [], "ignored": [
        {"event": "Grab", "reason": "a grab downloads nothing into a library yet"}]})
    assert hook(server, token, "sonarr_series_delete", deletedFiles=False)[1]["ignored"] == [
        {"event": "SeriesDelete", "reason": "its files were kept: nothing changed on disk"}]
    assert hook(server, token, "sonarr_test", eventType="SomethingNew")[1]["ignored"] == [
        {"event": "SomethingNew", "reason": "an event this server does not know"}]
    assert not PendingChange.objects.exists() and not ScanJob.objects.exists()

    for body in ({}, [], {"eventType": 5}, {"eventType": "Download"}, {"eventType": "Download", "episodeFile": "x"},
                 {"eventType": "Rename", "renamedMovieFiles": [{"path": "/movies/x.mkv"}]}):
        status, answer, _ = call(server, "POST", "/api/hooks/arr", body, Authorization=basic(token))
        assert status == 400 and answer["detail"], (body, answer)
    status, answer, _ = call(server, "POST", "/api/hooks/arr", None, Authorization=basic(token))
    assert status == 400, answer


def test_a_container_path_no_mapping_covers_is_reported(server, token, libraries):
    body = payload("radarr_download")
    body["movieFile"]["path"] = "/movies-4k/Heat (1995)/Heat.mkv"
    write(Path(libraries["films"].path) / "Heat (1995)/Heat.mkv")
    status, answer, _ = call(server, "POST", "/api/hooks/arr", body, Authorization=f"Token {token}")
    assert status == 202 and answer["queued"] == [], answer
    assert answer["ignored"] == [{"path": "/movies-4k/Heat (1995)/Heat.mkv", "reason":
                                  f"inside no library; SCANNER_PATH_MAP=/movies-4k={libraries['films'].path} "
                                  f"would map it"}]
    assert "action=path_unmapped" in server.log() and "/movies-4k=" in server.log()


def test_the_jellyfin_notice_with_each_header_form(server, token, libraries):
    tv = libraries["tv"]
    forms = {
        "X-MediaBrowser-Token": {"X-MediaBrowser-Token": token},
        "X-Emby-Token": {"X-Emby-Token": token},
        "Authorization": {"Authorization": f'MediaBrowser Client="Sonarr", Device="x", Token="{token}"'},
        "Emby scheme": {"Authorization": f'Emby Token="{token}"'},
        "X-Emby-Authorization": {"X-Emby-Authorization": f'MediaBrowser Client="autoscan", Token="{token}"'},
        "api_key": {},
    }
    expected = set()
    for n, (form, headers) in enumerate(forms.items()):
        prefix = ("", "/mediabrowser", "/emby")[n % 3]
        write(Path(tv.path) / f"Show {n}/episode.mkv")
        query = f"?api_key={token}" if form == "api_key" else ""
        status, body, _ = call(server, "POST", f"{prefix}/Library/Media/Updated{query}",
                               {"Updates": [{"Path": f"/tv/Show {n}", "UpdateType": "Created"}]}, **headers)
        assert (status, body) == (204, None), form
        expected.add(f"Show {n}/episode.mkv")
    caught_up(tv)
    assert present_paths(tv) == expected
    assert token not in server.log() and "api_key=[redacted]" in server.log()  # the access log keeps no token

    # What the Test button, and the update, of Sonarr's and Radarr's connection call first; Lidarr's Test.
    status, body, _ = call(server, "GET", "/System/Configuration", **{"X-MediaBrowser-Token": token})
    assert (status, body) == (200, {}), body
    status, body, _ = call(server, "GET", "/Items?recursive=true&includeItemTypes=Series&fields=Path,ProviderIds"
                           "&years=2022", **{"X-MediaBrowser-Token": token})
    assert status == 200 and body["Items"] == [], body
    status, body, _ = call(server, "POST", "/mediabrowser/Notifications/Admin",
                           {"Name": "Test from Lidarr", "Description": "Success!"}, **{"X-MediaBrowser-Token": token})
    assert status == 204, body
    status, body, _ = call(server, "POST", "/Library/Media/Updated", {"Paths": []}, **{"X-Emby-Token": token})
    assert status == 400 and "Updates" in body["detail"], body
    # What Lidarr's connection sends (the word "music" for each media folder): answered, and logged as ignored.
    status, body, _ = call(server, "POST", "/mediabrowser/Library/Media/Updated",
                           {"Updates": [{"Path": "music", "UpdateType": "Created"}]}, **{"X-MediaBrowser-Token": token})
    assert status == 204
    assert "the first music: not an absolute path" in server.log()


def test_autoscan_reads_the_libraries_then_notifies_folders_inside_them(server, token, libraries):
    """What autoscan's Jellyfin target (Cloudbox/autoscan targets/jellyfin/api.go) calls, in order."""
    emby = {"X-Emby-Token": token, "Accept": "application/json"}
    assert call(server, "GET", "/System/Info", **emby)[:2] == (200, {})
    status, body, _ = call(server, "GET", "/Library/VirtualFolders", **emby)
    assert status == 200 and body == [{"Name": name, "Locations": [libraries[name].path]}
                                      for name in ("films", "music", "tv")], body
    tv = libraries["tv"]
    write(Path(tv.path) / "Show/Season 01/episode.mkv")
    status, _, _ = call(server, "POST", "/Library/Media/Updated", {"Updates": [
        {"path": f"{tv.path}/Show/Season 01", "updateType": "Created"}]}, **emby)  # its JSON names are lowercase
    assert status == 204
    caught_up(tv)
    assert present_paths(tv) == {"Show/Season 01/episode.mkv"}


def test_wrong_missing_and_disabled_credentials_are_refused_and_counted(server, token, libraries, django_user_model):
    disabled = make_operator("retired")
    disabled_token = Token.objects.create(user=disabled).key
    disabled.is_active = False
    disabled.save()
    viewer = Token.objects.create(user=django_user_model.objects.create_user("viewer")).key
    notice = {"Updates": [{"Path": "/tv/Show", "UpdateType": "Modified"}]}

    refused = [
        call(server, "POST", "/api/hooks/arr", payload("sonarr_test"), Authorization=basic("not-the-token")),
        call(server, "POST", "/api/hooks/arr", payload("sonarr_test"), Authorization=basic("")),
        call(server, "POST", "/api/hooks/arr", payload("sonarr_test"), Authorization=basic(disabled_token)),
        call(server, "POST", "/Library/Media/Updated", notice, **{"X-MediaBrowser-Token": "not-the-token"}),
        call(server, "GET", "/System/Configuration", **{"X-Emby-Token": disabled_token}),
    ]
    assert [status for status, _, _ in refused] == [401] * 5, refused
    assert refused[0][2]["WWW-Authenticate"] == 'Basic realm="api"'
    assert refused[3][2]["WWW-Authenticate"].startswith("MediaBrowser")
    # The sixth wrong token from this address (LOGIN_FAILURE_LIMIT) locks it out, as wrong passwords do: wrong
    # tokens are held off from then on, the right one is not.
    for attempt in ("sixth", "seventh"):
        status, body, _ = call(server, "POST", "/api/hooks/arr", payload("sonarr_test"), Authorization=basic(attempt))
        assert status == 429, body
    assert call(server, "POST", "/api/hooks/arr", payload("sonarr_test"), Authorization=basic(token))[0] == 200

    for path, method in (("/api/hooks/arr", "POST"), ("/Library/Media/Updated", "POST"),
                         ("/System/Configuration", "GET")):
        status, body, headers = call(server, method, path, notice)
        assert status == 401 and "WWW-Authenticate" in headers, (path, body)
    status, body, _ = call(server, "GET", "/System/Configuration", **{"X-Emby-Token": viewer})
    assert status == 403, body  # a user who may not notify fails the connection test too
    assert not PendingChange.objects.exists() and not ScanJob.objects.exists()
