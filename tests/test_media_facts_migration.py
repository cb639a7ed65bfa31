"""Migration 0007: rows catalogued before issue 25 get its vocabulary (ISO 639-2/T languages,
FFmpeg's codec names), so that ?language= finds them before any rescan."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE, AFTER = [("libraries", "0006_media_facts_25")], [("libraries", "0007_media_facts_names")]


def test_old_rows_get_iso_639_2t_languages_and_codec_names(make_library, user_client):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    library = old.get_model("libraries", "Library").objects.create(name="Films", path="/srv/films")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    rows = old.get_model("libraries", "MediaFile").objects
    common = {"library_id": library.pk, "size": 1, "mtime_ns": 1, "first_seen": now, "last_seen": now}
    rows.create(path="film.mkv", kind="video", extension="mkv", codec="libdav1d", languages=" eng fre ger ", streams=[
        {"type": "video", "codec": "libdav1d", "language": None},
        {"type": "audio", "codec": "mp3float", "language": "fre"},
        {"type": "subtitle", "codec": "srt", "language": "ger"},
        {"type": "subtitle", "codec": "ssa", "language": "en"}], **common)
    rows.create(path="song.m4a", kind="audio", extension="m4a", codec="mp4a.40.2", **common)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)  # and the later ones, which the API's models need
    executor.migrate(executor.loader.graph.leaf_nodes())

    files = {item["path"]: item for item in user_client.get(
        f"/api/libraries/{library.pk}/files/").json()["results"]}
    assert [(s["codec"], s["language"]) for s in files["film.mkv"]["streams"]] == [
        ("av1", None), ("mp3", "fra"), ("subrip", "deu"), ("ass", "eng")]
    assert (files["film.mkv"]["codec"], files["song.m4a"]["codec"]) == ("av1", "aac")
    found = user_client.get(f"/api/libraries/{library.pk}/files/?language=French").json()["results"]
    assert [item["path"] for item in found] == ["film.mkv"]
