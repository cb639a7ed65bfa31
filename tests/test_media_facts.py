"""What media files say inside, through the API: video streams (PyAV), photo facts (Pillow),
and the audio fields people sort by (mutagen). Real files, made by tests/media.py; exact values.
"""

import logging
import re
import struct
import zlib
from pathlib import Path

import pytest

from libraries.models import MediaFile
from scanner.core import readers
from scanner.core.readers import pool as extraction
from tests import media
from tests.helpers import scan_now

pytestmark = pytest.mark.django_db


def files_by_path(client, library, query: str = "") -> dict[str, dict]:
    response = client.get(f"/api/libraries/{library.pk}/files/?page_size=100{query}")
    assert response.status_code == 200, response.content
    return {item["path"]: item for item in response.json()["results"]}


def test_videos_are_probed_for_duration_resolution_codecs_and_languages(make_library, user_client):
    library = make_library(kind="movies")
    root = Path(library.path)
    media.write_video(root / "Film (2001)/Film.mkv", audio=("eng", "fre"), subtitles=("eng",), title="A Film")
    media.write_video(root / "Big/Big.mp4", video_codec="libx264", width=1920, height=1080, frames=5,
                      audio=("jpn",))
    media.write_video(root / "Web/Clip.webm", video_codec="libvpx-vp9", audio=("spa",), audio_codec="libopus",
                      subtitles=("ger",), subtitle_codec="webvtt")

    job = scan_now(library)

    assert (job.status, job.files_added, job.files_failed) == ("completed", 3, 0), job.status_message
    files = files_by_path(user_client, library)
    film, big, clip = files["Film (2001)/Film.mkv"], files["Big/Big.mp4"], files["Web/Clip.webm"]
    assert {k: film[k] for k in ("kind", "duration", "width", "height", "codec", "title")} == {
        "kind": "video", "duration": 1.0, "width": 64, "height": 48, "codec": "mpeg4", "title": "A Film"}
    flags = {"default": False, "forced": False, "hearing_impaired": False}
    assert film["streams"] == [
        {"type": "video", "codec": "mpeg4", "language": None, **flags, "width": 64, "height": 48, "frame_rate": 10.0,
         "bit_depth": 8},
        {"type": "audio", "codec": "aac", "language": "eng", **flags, "channels": 2, "channel_layout": "stereo",
         "sample_rate": 48000},
        {"type": "audio", "codec": "aac", "language": "fra", **flags, "channels": 2, "channel_layout": "stereo",
         "sample_rate": 48000},
        {"type": "subtitle", "codec": "subrip", "language": "eng", **flags},
    ]
    assert film["bitrate"] > 0 and film["taken_at"] is None
    assert (big["width"], big["height"], big["codec"], big["duration"]) == (1920, 1080, "h264", 0.5)
    assert [(s["type"], s["codec"], s["language"]) for s in big["streams"]] == [
        ("video", "h264", None), ("audio", "aac", "jpn")]
    assert [(s["type"], s["codec"], s["language"]) for s in clip["streams"]] == [
        ("video", "vp9", None), ("audio", "opus", "spa"), ("subtitle", "webvtt", "deu")]

    assert set(files_by_path(user_client, library, "&kind=video&min_height=1080")) == {"Big/Big.mp4"}
    assert set(files_by_path(user_client, library, "&language=fre")) == {"Film (2001)/Film.mkv"}
    assert set(files_by_path(user_client, library, "&language=GER")) == {"Web/Clip.webm"}
    assert set(files_by_path(user_client, library, "&language=en")) == {"Film (2001)/Film.mkv"}  # ISO 639-1
    refused = user_client.get(f"/api/libraries/{library.pk}/files/?language=qq")
    assert refused.status_code == 400 and "Not a language: 'qq'" in refused.json()["language"][0]
    assert user_client.get(f"/api/libraries/{library.pk}/files/?min_height=tall").status_code == 400


def test_photos_have_their_dimensions_and_the_date_they_were_taken(make_library, user_client):
    library = make_library(kind="photos")
    root = Path(library.path)
    media.write_photo(root / "2021/beach.jpg", width=400, height=300, taken="2021:06:05 14:30:00", offset="+02:00")
    media.write_photo(root / "2019/snow.jpg", width=30, height=40, taken="2019:01:02 03:04:05")
    media.write_photo(root / "scans/drawing.png", width=25, height=25)
    media.write_photo(root / "2020/clock-never-set.jpg", taken="0000:00:00 00:00:00")

    job = scan_now(library)

    assert (job.status, job.files_added, job.files_failed) == ("completed", 4, 0), job.status_message
    files = files_by_path(user_client, library)
    assert {path: (f["kind"], f["width"], f["height"], f["codec"], f["taken_at"]) for path, f in files.items()} == {
        "2021/beach.jpg": ("image", 400, 300, "jpeg", "2021-06-05T12:30:00Z"),  # +02:00 in UTC
        "2019/snow.jpg": ("image", 30, 40, "jpeg", "2019-01-02T03:04:05Z"),  # no offset: the camera's clock
        "scans/drawing.png": ("image", 25, 25, "png", None),
        "2020/clock-never-set.jpg": ("image", 40, 30, "jpeg", None),
    }
    assert all(f["streams"] == [] for f in files.values())


def test_music_has_album_artist_disc_genre_and_a_bitrate_in_every_format(make_library, user_client):
    library = make_library(kind="music")
    root = Path(library.path)
    tags = {"title": "Song", "artist": "Guest", "album": "Live", "album_artist": "The Band", "track": 3, "disc": 2,
            "genre": "Jazz", "year": 1999}
    media.write_mp3(root / "a.mp3", tags=tags)
    media.write_flac(root / "b.flac", tags=tags)
    media.write_mp4(root / "c.m4a", tags=tags)
    media.write_wav(root / "d.wav", tags=tags)
    media.write_mp3(root / "e.mp3", tags={"title": "Other", "genre": "Rock"})

    job = scan_now(library)

    assert (job.status, job.files_failed) == ("completed", 0), job.status_message
    files = files_by_path(user_client, library)
    for path in ("a.mp3", "b.flac", "c.m4a", "d.wav"):
        assert {k: files[path][k] for k in tags} == tags, path
    size = {path: (root / path).stat().st_size for path in files}
    assert files["a.mp3"]["bitrate"] == 32000  # the MPEG frames say
    assert files["b.flac"]["bitrate"] == int(size["b.flac"] * 8 / 2.0)  # lossless: size over length
    assert files["c.m4a"]["bitrate"] == int(size["c.m4a"] * 8 / 3.0)  # no esds rate: size over length
    assert files["d.wav"]["bitrate"] == 64000

    assert set(files_by_path(user_client, library, "&genre=jazz")) == {"a.mp3", "b.flac", "c.m4a", "d.wav"}
    assert set(files_by_path(user_client, library, "&album_artist=THE BAND")) == {"a.mp3", "b.flac", "c.m4a", "d.wav"}
    assert set(files_by_path(user_client, library, "&genre=Rock")) == {"e.mp3"}


def test_a_full_rescan_fills_the_new_fields_and_a_quick_rescan_does_not_reopen_files(make_library, user_client):
    library = make_library()
    root = Path(library.path)
    media.write_flac(root / "a.flac", tags={"title": "A", "genre": "Folk", "disc": 1})
    media.write_photo(root / "p.jpg", taken="2022:02:02 02:02:02")
    scan_now(library)
    # As rows catalogued before these fields existed look:
    MediaFile.objects.filter(library=library).update(genre="", disc=None, taken_at=None, width=None)

    quick = scan_now(library)
    assert quick.files_unchanged == 2
    assert files_by_path(user_client, library)["a.flac"]["genre"] == ""

    full = scan_now(library, mode="full")
    assert (full.files_updated, full.files_failed) == (2, 0)
    files = files_by_path(user_client, library)
    assert (files["a.flac"]["genre"], files["a.flac"]["disc"]) == ("Folk", 1)
    assert (files["p.jpg"]["width"], files["p.jpg"]["taken_at"]) == (40, "2022-02-02T02:02:02Z")
    again = scan_now(library, mode="full")
    assert (again.files_unchanged, again.files_updated) == (2, 0)  # nothing new to write


def test_broken_truncated_and_empty_files_are_catalogued_failed_with_their_reason(make_library, user_client,
                                                                                   caplog):
    library = make_library()
    root = Path(library.path)
    good = media.write_video(root / "good.mkv", audio=("eng",))
    (root / "truncated.mkv").write_bytes(good.read_bytes()[:200])
    media.write_junk(root / "junk.mp4")
    (root / "empty.avi").touch()
    photo = media.write_photo(root / "cut.jpg", width=400, height=300)
    (root / "cut.jpg").write_bytes(photo.read_bytes()[:40])
    (root / "empty.png").touch()

    with caplog.at_level(logging.WARNING, logger="scanner"):
        job = scan_now(library)

    assert (job.status, job.files_added, job.files_failed) == ("completed", 6, 5), job.status_message
    files = files_by_path(user_client, library)
    assert {path: f["size"] for path, f in files.items()} == {p.name: p.stat().st_size for p in root.iterdir()}
    assert files["good.mkv"]["width"] == 64
    assert all(files[p]["width"] is None and files[p]["streams"] == [] for p in files if p != "good.mkv")
    logged = caplog.text
    for name in ("truncated.mkv", "junk.mp4", "cut.jpg"):
        assert f"file failed: '{name}': unreadable: " in logged
    assert "2 files failed: empty file (0 bytes): nothing to read (first 'empty.avi')" in logged


# ----------------------------------------------------------------- hostile files


def png_chunk(kind: bytes, data: bytes, *, length: int | None = None) -> bytes:
    return struct.pack(">I", len(data) if length is None else length) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))


def test_hostile_files_fail_alone_and_the_scan_completes(make_library, user_client, monkeypatch, caplog):
    library = make_library()
    root = Path(library.path)
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # ten gigapixels, a decompression bomb
    (root / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b""))
    # An EXIF chunk that claims 600 MB (the file is sparse): Pillow would read it all into memory.
    exif_size = 600 << 20
    small = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    with open(root / "huge-exif.png", "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", small) + struct.pack(">I", exif_size) + b"eXIf")
        out.truncate(out.tell() + exif_size + 4)
    # An MP4 whose movie header holds 100,000 tracks.
    track = struct.pack(">I", 8) + b"trak"
    moov = struct.pack(">I", 8 + 8 * 100_000) + b"moov" + track * 100_000
    (root / "streams.mp4").write_bytes(struct.pack(">I", 16) + b"ftypisom" + bytes(4) + moov)
    media.write_photo(root / "fine.jpg")
    monkeypatch.setattr(extraction, "READER_MEMORY", 400 << 20)  # the readers' heap cap, lowered to fit a test
    readers.shutdown_pool()

    with caplog.at_level(logging.WARNING, logger="scanner"):
        job = scan_now(library, metadata_workers=1)

    assert (job.status, job.files_added, job.files_failed) == ("completed", 4, 3), job.status_message
    assert "'bomb.png': unreadable: image too large to be safe" in caplog.text
    assert "'huge-exif.png': unreadable: MemoryError" in caplog.text  # the reader's heap cap, not the host's RAM
    assert "'streams.mp4': unreadable: MemoryError: FFmpeg says Number of streams exceeds max_streams" in caplog.text
    files = files_by_path(user_client, library)
    assert files["fine.jpg"]["width"] == 40
    assert all(files[name]["width"] is None for name in ("bomb.png", "huge-exif.png", "streams.mp4"))

    readers.shutdown_pool()


def test_the_schema_describes_streams(user_client):
    schema = user_client.get("/api/schema/?format=json").json()
    stream = schema["components"]["schemas"]["Stream"]
    assert {"type", "codec", "language", "channels", "width", "height"} <= set(stream["properties"])
    assert schema["components"]["schemas"]["MediaFile"]["properties"]["streams"]["items"] == {
        "$ref": "#/components/schemas/Stream"}


def test_the_library_page_shows_what_files_hold(make_library, client, django_user_model, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # +05:30 all year: the page shows times there
    library = make_library()
    root = Path(library.path)
    media.write_video(root / "Film.mkv", audio=("eng", "fre"), subtitles=("ger",), frames=20, rate=1)
    media.write_photo(root / "beach.jpg", width=400, height=300, taken="2021:06:05 14:30:00", offset="+02:00",
                      model="Canon EOS 80D", make="Canon")
    media.write_photo(root / "old.jpg", taken="2019:01:02 03:04:05")  # no offset: the camera's clock
    media.write_flac(root / "song.flac", tags={"artist": "Guest", "album_artist": "The Band", "disc": 2,
                                              "genre": "Jazz", "track": 7, "year": 1999, "album": "Live"})
    media.write_flac(root / "one/a.flac", tags={"album": "Single", "disc": 1, "track": 1, "year": 2001})
    media.write_flac(root / "two/a.flac", tags={"album": "Double", "disc": 1, "track": 1})
    media.write_flac(root / "two/b.flac", tags={"album": "Double", "disc": 2, "track": 1})
    scan_now(library)
    client.force_login(django_user_model.objects.create_user("viewer"))

    page = client.get(f"/libraries/{library.pk}/").content.decode()

    assert re.search(r"64×48 · mpeg4 · \d+ kb/s · audio English, French · subtitles German", page)
    assert "400×300 · jpeg · taken 2021-06-05 18:00 +05:30 · Canon EOS 80D" in page  # 12:30 UTC in Kolkata
    assert "taken 2019-01-02 03:04 (camera clock)" in page
    assert re.search(r"track 7 · 1999 · disc 2 · Jazz · flac · \d+ kb/s · album artist The Band", page)
    assert re.search(r"track 1 · 2001 · flac", page)  # a single disc says no "disc 1"
    assert page.count("track 1 · disc 1 · flac") == 1  # the first of two discs does
    assert "<td>0:00:20</td>" in page and "<td>0:00:02</td>" in page  # h:mm:ss

    french = client.get(f"/libraries/{library.pk}/?language=French").content.decode()
    assert "Film.mkv" in french and "song.flac" not in french and 'value="French"' in french
    assert "Not a language" in client.get(f"/libraries/{library.pk}/?language=Elvish").content.decode()


# ----------------------------------------------------------------- found in review


@pytest.mark.parametrize("taken, offset", [
    ("2021:06:05 14:30:00", "+24:00"),  # a day of offset
    ("2021:06:05 14:30:00", "+23:99"),
    ("0001:01:01 00:00:00", "+02:00"),  # UTC would be year 0
    ("9999:12:31 23:59:59", "-01:00"),  # UTC would be year 10000
    ("1650:01:01 10:00:00", ""),  # before photography
    ("2021:06:31 10:00:00", ""),  # no such day
])
def test_an_impossible_photo_date_costs_the_date_not_the_scan(make_library, user_client, settings, taken, offset):
    settings.TIME_ZONE = "America/New_York"  # where a year-1 UTC date cannot even be shown
    library = make_library(kind="photos")
    root = Path(library.path)
    media.write_photo(root / "odd.jpg", taken=taken, offset=offset)
    media.write_photo(root / "fine.jpg", taken="2021:06:05 14:30:00", offset="-07:30")

    first, second = scan_now(library), scan_now(library)

    assert (first.status, first.files_added, first.files_failed) == ("completed", 2, 0), first.error_message
    assert second.status == "completed"
    files = files_by_path(user_client, library)
    assert (files["odd.jpg"]["width"], files["odd.jpg"]["taken_at"]) == (40, None)
    assert files["fine.jpg"]["taken_at"] == "2021-06-05T22:00:00Z"  # the API answers in UTC wherever the server is


def test_a_full_rescan_does_not_rewrite_an_unchanged_empty_file(make_library):
    library = make_library()
    (Path(library.path) / "empty.mkv").touch()
    scan_now(library)
    before = MediaFile.objects.get(library=library, path="empty.mkv")

    full = scan_now(library, mode="full")

    after = MediaFile.objects.get(library=library, path="empty.mkv")
    assert (full.files_updated, full.files_unchanged, full.files_failed) == (0, 1, 1)
    assert (after.last_seen, after.last_job_id) == (before.last_seen, before.last_job_id)


def test_a_fractional_minimum_is_refused_not_truncated(make_library, user_client):
    library = make_library(kind="photos")
    media.write_photo(Path(library.path) / "one.png", width=1, height=1)
    scan_now(library)
    assert user_client.get(f"/api/libraries/{library.pk}/files/?min_height=1.5").status_code == 400
    assert set(files_by_path(user_client, library, "&min_height=1")) == {"one.png"}
