"""SCANNER_PATH_MAP (DESIGN.md 10): notified paths as the notifier sees them, mapped to this server's."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from scanner.conf import ScannerConfig, parse_path_map
from scanner.jobs import pathmap
from scanner.models import ScanJob
from tests.helpers import config


def test_the_map_is_read_from_the_environment_longest_prefix_first():
    parsed = ScannerConfig.from_env({"SCANNER_PATH_MAP": " /data=/srv/data ; /data/tv/=/srv/media/tv;"}).path_map
    assert parsed == (("/data/tv", "/srv/media/tv"), ("/data", "/srv/data"))
    assert ScannerConfig.from_env({}).path_map == ()


@pytest.mark.parametrize("raw", ["/tv", "tv=/srv/tv", "/tv=srv/tv", "/tv=/a;/tv=/b"])
def test_a_malformed_map_stops_the_start_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="SCANNER_PATH_MAP"):
        parse_path_map(raw)


def test_prefixes_map_whole_folder_names_only():
    path_map = parse_path_map("/tv=/srv/media/tv;/data/tv=/mnt/tv;/=/host")
    assert pathmap.map_path("/tv/Show/x.mkv", path_map) == "/srv/media/tv/Show/x.mkv"
    assert pathmap.map_path("/tv", path_map) == "/srv/media/tv"
    assert pathmap.map_path("/data/tv/x.mkv", path_map) == "/mnt/tv/x.mkv"  # the longer prefix wins
    assert pathmap.map_path("/tvshows/x.mkv", path_map) == "/host/tvshows/x.mkv"  # not /tv: only "/" holds it
    assert pathmap.map_path("relative/x.mkv", path_map) == "relative/x.mkv"
    assert pathmap.map_path("/tvshows/x.mkv", parse_path_map("/tv=/srv/media/tv")) == "/tvshows/x.mkv"


@pytest.mark.django_db
def test_notified_container_paths_land_in_their_library_and_one_mapped_nowhere_is_reported(
        make_library, staff_client, settings, tmp_path, caplog, monkeypatch):
    tv = make_library(path=tmp_path / "srv/media/tv")
    films = make_library(path=tmp_path / "srv/media/films")
    (tmp_path / "srv/media/films/Heat (1995)").mkdir()
    settings.SCANNER = config(path_map=parse_path_map(f"/tv={tv.path};/movies/4k={films.path}"))
    monkeypatch.setattr(pathmap, "_last_logged", -pathmap.LOG_EVERY)
    caplog.set_level(logging.WARNING, logger="scanner")

    response = staff_client.post("/api/scanner/changes", {"paths": [
        "/tv/Show/Season 01/Show - S01E01.mkv", "/movies/4k/Heat (1995)/Heat.mkv",
        "/movies/hd/Heat (1995)/Heat.mkv", "/downloads/x.mkv"]}, format="json")

    assert response.status_code == 202, response.content
    assert response.json() == {
        "queued": [{"library": tv.pk, "path": "Show/Season 01/Show - S01E01.mkv"},
                   {"library": films.pk, "path": "Heat (1995)/Heat.mkv"}],
        "ignored": [{"path": "/movies/hd/Heat (1995)/Heat.mkv",
                     "reason": f"inside no library; SCANNER_PATH_MAP=/movies/hd={films.path} would map it"},
                    {"path": "/downloads/x.mkv", "reason": "inside no library"}],
    }
    assert ScanJob.objects.get(library=tv).scope == ["Show/Season 01/Show - S01E01.mkv"]
    assert ScanJob.objects.get(library=films).scope == ["Heat (1995)/Heat.mkv"]
    lines = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "path_unmapped"]
    assert lines == [f"Notified path /movies/hd/Heat (1995)/Heat.mkv is inside no library; "
                     f"SCANNER_PATH_MAP=/movies/hd={films.path} would map it"]  # once a minute: not twice


@pytest.mark.django_db
def test_a_path_mapped_to_no_library_is_told_the_pair_for_the_path_as_sent(make_library, staff_client, settings,
                                                                           tmp_path):
    tv = make_library(path=tmp_path / "srv/media/tv")
    settings.SCANNER = config(path_map=parse_path_map("/tv=/srv/tv"))  # a wrong target
    response = staff_client.post("/api/scanner/changes", {"paths": ["/tv/Show/x.mkv"]}, format="json")
    assert response.json()["ignored"] == [{"path": "/tv/Show/x.mkv", "reason": "inside no library (mapped to "
                                           f"/srv/tv/Show/x.mkv); SCANNER_PATH_MAP=/tv={tv.path} would map it"}]


def test_a_guess_takes_a_library_named_like_a_folder_of_the_path(tmp_path):
    assert pathmap.guess_mapping("/data/media/tv/Show/x.mkv", ["/srv/films", "/srv/media/tv"]) == \
        "/data/media/tv=/srv/media/tv"
    assert pathmap.guess_mapping("/data/x.mkv", [str(tmp_path)]) == ""
