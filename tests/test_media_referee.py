"""The facts of issue 25 on a corpus made here (PyAV, mutagen, Pillow), through the API, and
refereed by Debian's ffprobe where it is installed (`make test` installs it; REQUIRE_FFPROBE,
set by .ci/run, turns its absence into a failure).

The corpus: videos in MKV, MP4, MOV, WebM, AVI and MPEG-TS with mpeg4, h264, hevc, vp9, av1 and
mpeg2video; rotated, anamorphic and HDR streams; subtitles with flags; audio in every format the
scanner reads, with one-, multi-valued and lying tags; photos turned by EXIF, with dates from
each source a camera or an editor writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from av.stream import Disposition
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TIT2, TPE1
from mutagen.mp4 import MP4

from scanner.core.languages import language_code
from tests import media
from tests.helpers import scan_now

pytestmark = pytest.mark.django_db
FFPROBE = shutil.which("ffprobe")
SUBTITLE_FLAGS = {"forced": Disposition.forced}
COMMENTARY = {"language": "eng", "title": "Commentary", "disposition": Disposition.default}
SDH = {"language": "ger", "title": "SDH", "disposition": Disposition.hearing_impaired}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration otherwise
    root = tmp_path_factory.mktemp("corpus")
    video = media.write_video
    video(root / "mkv/film.mkv", audio=(COMMENTARY, {"language": "fre", "layout": "5.1(side)"}),
          audio_codec="ac3", subtitles=({"language": "eng", "disposition": Disposition.forced}, SDH), chapters=3,
          title="A Film",
          tags={"date": "1942", "creation_time": "2021-03-04T05:06:07Z"})
    video(root / "mkv/ass.mkv", subtitles=("jpn",), subtitle_codec="ass")
    video(root / "mp4/h264.mp4", video_codec="libx264", audio=("jpn",), frames=25, rate=25)
    video(root / "mp4/vfr.mp4", video_codec="libx264", rate=30, frames=10,
          timestamps=[0, 1, 2, 3, 4, 10, 16, 22, 28, 29])  # 30 fps, then 5: a phone in low light
    video(root / "mp4/android.mp4", video_codec="libx264", audio=("eng",), options={"movflags": "use_metadata_tags"},
          tags={"creation_time": "2021-06-05T12:30:00.000000Z", "com.android.version": "13"})
    video(root / "mov/iphone.mov", video_codec="libx264", rotation=90, options={"movflags": "use_metadata_tags"},
          tags={"com.apple.quicktime.creationdate": "2021-06-05T14:30:00+0200",
                "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 12"})
    video(root / "webm/clip.webm", video_codec="libvpx-vp9", audio=("spa",), audio_codec="libopus",
          subtitles=("en",), subtitle_codec="webvtt")
    video(root / "avi/old.avi", audio=("",), audio_codec="libmp3lame")
    video(root / "ts/broadcast.ts", video_codec="mpeg2video", audio=("",), audio_codec="mp2")
    video(root / "av1/clip.mkv", video_codec="libsvtav1", width=64, height=64, frames=2)
    video(root / "dvd/anamorphic.mkv", width=720, height=576, frames=2, sample_aspect_ratio=Fraction(64, 45))
    hevc = {"video_codec": "libx265", "pix_fmt": "yuv420p10le", "frames": 3}
    video(root / "hdr/hdr10.mkv", color_trc=16, **hevc)
    video(root / "hdr/hlg.mp4", color_trc=18, **hevc)
    video(root / "hdr/hdr10plus.mkv", color_trc=16, first_packet_prefix=media.HDR10_PLUS_SEI, **hevc)
    video(root / "hdr/dolby-rpu.mkv", color_trc=16, first_packet_prefix=media.DOLBY_VISION_RPU, **hevc)
    media.add_dolby_vision_box(video(root / "hdr/dolby-box.mp4", color_trc=16, **hevc))
    video(root / "hdr/sdr10.mp4", **hevc)

    tags = {"title": "Song", "artist": "Björk; 坂本龍一", "album": "Live", "album_artist": "The Band", "track": "3/12",
            "disc": "2/2", "genre": "Jazz", "date": "1999"}
    media.write_audio(root / "music/wma.wma", "wmav2", tags=tags, bit_rate=128_000)
    media.write_wav_info(root / "music/info.wav", {"INAM": "Song", "IART": "Björk", "IPRD": "Live", "ICRD": "1999",
                                                   "IGNR": "Jazz", "ITRK": "3"})
    media.write_audio(root / "music/opus.opus", "libopus", rate=48_000)
    media.write_audio(root / "music/alac.m4a", "alac")
    media.write_audio(root / "music/aac.m4a", "aac", tags=tags)
    media.write_audio(root / "music/pcm24.wav", "pcm_s24le", layout="5.1(side)", rate=48_000)
    media.write_audio(root / "music/aiff.aiff", "pcm_s16be", tags={"title": "Song"})
    media.write_audio(root / "music/album.mka", "flac", tags=tags, language="ger")
    id3 = media.write_mp3(root / "music/multi.mp3")
    tagged = ID3()
    tagged.add(TPE1(encoding=3, text=["Björk", "坂本龍一"]))  # one ID3v2.4 frame, two values
    tagged.add(TIT2(encoding=3, text="Song"))
    tagged.save(id3)
    flac = FLAC(media.write_flac(root / "music/multi.flac"))
    flac["artist"], flac["artists"] = "Björk & Ryuichi Sakamoto", ["Björk", "坂本龍一"]
    flac.save()
    mp4 = MP4(media.write_mp4(root / "music/multi.m4a"))
    mp4["\xa9ART"] = ["Björk", "坂本龍一"]
    mp4.save()
    shutil.copy(media.write_mp3(root / "music/tagged.mp3", tags={"title": "Liar", "artist": "Fibber"}),
                root / "music/lie.flac")
    (root / "music/tagged.mp3").unlink()
    (root / "music/raw-lie.flac").write_bytes(media.MP3_FRAME * 40)  # no ID3 header: only FFmpeg knows it

    photo = media.write_photo
    photo(root / "photos/mpo.jpg", mpo=True)
    for extension in ("jpg", "tif", "webp"):
        photo(root / f"photos/turned.{extension}", orientation=6)
    photo(root / "photos/digitized.jpg", digitized="2021:06:05 14:30:00", offset="+02:00", subsec="25")
    photo(root / "photos/gps.jpg", gps_time=("2021:06:05", (12.0, 30.0, 15.5)))
    photo(root / "photos/xmp.png", xmp='<rdf:Description photoshop:DateCreated="2021-06-05T14:30:00.25+02:00"/>')
    photo(root / "photos/nikon.jpg", make="NIKON CORPORATION", model="NIKON D750", orientation=8)
    return root


@pytest.fixture
def files(corpus, make_library, user_client):
    library = make_library(path=corpus)
    job = scan_now(library)
    assert (job.status, job.files_failed) == ("completed", 0), job.status_message
    response = user_client.get(f"/api/libraries/{library.pk}/files/?page_size=1000")
    files = {item["path"]: item for item in response.json()["results"]}
    files["library"] = library.pk
    return files


def test_codec_names_are_ffprobes_whichever_reader_read_the_file(files):
    codecs = {path: file["codec"] for path, file in files.items() if path != "library"}
    assert codecs["av1/clip.mkv"] == "av1"  # not libdav1d
    assert codecs["mp4/h264.mp4"] == "h264" and codecs["hdr/hdr10.mkv"] == "hevc"
    assert codecs["ts/broadcast.ts"] == "mpeg2video"
    assert [s["codec"] for s in files["avi/old.avi"]["streams"]] == ["mpeg4", "mp3"]  # not mp3float
    assert [s["codec"] for s in files["mkv/film.mkv"]["streams"]][-2:] == ["subrip", "subrip"]  # not srt
    assert files["mkv/ass.mkv"]["streams"][-1]["codec"] == "ass"  # not ssa
    assert (codecs["music/aac.m4a"], codecs["music/alac.m4a"], codecs["music/opus.opus"]) == ("aac", "alac", "opus")
    assert (codecs["music/pcm24.wav"], codecs["music/info.wav"], codecs["music/aiff.aiff"]) == (
        "pcm_s24le", "pcm_u8", "pcm_s16be")  # by bit depth and byte order, not "pcm"
    assert codecs["music/wma.wma"] == "wmav2" and codecs["music/album.mka"] == "flac"
    assert codecs["photos/mpo.jpg"] == "jpeg" and codecs["photos/turned.webp"] == "webp"  # an MPO is a JPEG


def test_audio_whose_name_lies_is_read_by_what_it_holds(files):
    lie, raw = files["music/lie.flac"], files["music/raw-lie.flac"]
    assert (lie["codec"], lie["title"], lie["artist"], lie["sample_rate"]) == ("mp3", "Liar", "Fibber", 32000)
    assert (raw["codec"], raw["sample_rate"], raw["channels"]) == ("mp3", 32000, 1)  # read by FFmpeg
    assert raw["duration"] == pytest.approx(40 * media.MP3_FRAME_SECONDS, abs=0.05)


def test_tags_of_wma_riff_info_aiff_and_matroska_audio(files, user_client):
    expected = {"title": "Song", "artist": "Björk; 坂本龍一", "artists": ["Björk", "坂本龍一"], "album": "Live",
                "album_artist": "The Band", "album_artists": ["The Band"], "track": 3, "disc": 2, "year": 1999,
                "genre": "Jazz"}
    for path in ("music/wma.wma", "music/album.mka", "music/aac.m4a"):
        assert {key: files[path][key] for key in expected} == expected, path
    info = files["music/info.wav"]
    assert (info["title"], info["artist"], info["album"], info["year"], info["genre"], info["track"]) == (
        "Song", "Björk", "Live", 1999, "Jazz", 3)
    assert files["music/aiff.aiff"]["title"] == "Song"
    mka = files["music/album.mka"]
    assert [(s["type"], s["codec"], s["language"], s["bit_depth"]) for s in mka["streams"]] == [
        ("audio", "flac", "deu", 16)]
    found = user_client.get(f"/api/libraries/{files['library']}/files/?language=German&kind=audio").json()
    assert [item["path"] for item in found["results"]] == ["music/album.mka"]


def test_several_artists_are_all_kept(files):
    for path in ("music/multi.mp3", "music/multi.flac", "music/multi.m4a", "music/wma.wma"):
        assert (files[path]["artist"], files[path]["artists"]) == ("Björk; 坂本龍一", ["Björk", "坂本龍一"]), path


def test_audio_numbers(files, corpus):
    opus, alac, pcm = files["music/opus.opus"], files["music/alac.m4a"], files["music/pcm24.wav"]
    assert (opus["sample_rate"], opus["channels"], opus["bit_depth"]) == (48000, 2, None)
    size = (corpus / "music/alac.m4a").stat().st_size
    assert alac["bitrate"] == int(size * 8 / alac["duration"]) and alac["bitrate"] != 44_100 * 2 * 24
    assert (alac["bit_depth"], alac["channels"]) == (24, 2)
    assert (pcm["channels"], pcm["bit_depth"], pcm["bitrate"]) == (6, 24, 48_000 * 6 * 24)
    assert (files["music/multi.flac"]["bit_depth"], files["music/aac.m4a"]["bit_depth"]) == (16, None)


def test_video_facts_users_look_for(files):
    film = files["mkv/film.mkv"]
    assert (film["frame_rate"], film["bit_depth"], film["rotation"], film["chapters"], film["hdr"]) == (
        10.0, 8, 0, 3, None)
    audio = [s for s in film["streams"] if s["type"] == "audio"]
    assert [(s["language"], s.get("title"), s["default"], s["channels"], s["channel_layout"]) for s in audio] == [
        ("eng", "Commentary", True, 2, "stereo"), ("fra", None, False, 6, "5.1(side)")]
    subtitles = [s for s in film["streams"] if s["type"] == "subtitle"]
    assert [(s["language"], s.get("title"), s["forced"], s["hearing_impaired"]) for s in subtitles] == [
        ("eng", None, True, False), ("deu", "SDH", False, True)]
    assert files["mp4/h264.mp4"]["frame_rate"] == 25.0 and files["mp4/h264.mp4"]["chapters"] == 0
    assert files["mp4/vfr.mp4"]["frame_rate"] == 12.0  # the average, not the nominal 30
    assert files["mov/iphone.mov"]["rotation"] == 90  # a portrait phone video: turned a quarter clockwise
    dvd = files["dvd/anamorphic.mkv"]
    assert (dvd["width"], dvd["height"]) == (720, 576)  # as stored
    assert (dvd["streams"][0]["display_width"], dvd["streams"][0]["display_height"]) == (1024, 576)
    assert (files["hdr/sdr10.mp4"]["bit_depth"], files["mp4/h264.mp4"]["bit_depth"]) == (10, 8)


def test_hdr_formats(files):
    assert {path: files[path]["hdr"] for path in files if path.startswith("hdr/")} == {
        "hdr/hdr10.mkv": "hdr10", "hdr/hlg.mp4": "hlg", "hdr/hdr10plus.mkv": "hdr10+",
        "hdr/dolby-rpu.mkv": "dolby_vision", "hdr/dolby-box.mp4": "dolby_vision", "hdr/sdr10.mp4": None}


def test_photos_as_stored_with_rotation_camera_and_when_taken(files):
    for extension in ("jpg", "tif", "webp"):
        turned = files[f"photos/turned.{extension}"]
        assert (turned["width"], turned["height"], turned["rotation"]) == (40, 30, 90), extension
    nikon = files["photos/nikon.jpg"]
    assert (nikon["camera"], nikon["rotation"], files["photos/mpo.jpg"]["camera"]) == ("NIKON D750", 270, "")
    when = {path: (files[path]["taken_at"], files[path]["taken_at_offset"])
            for path in ("photos/digitized.jpg", "photos/gps.jpg", "photos/xmp.png", "photos/mpo.jpg")}
    assert when == {
        "photos/digitized.jpg": ("2021-06-05T12:30:00.250000Z", True),  # CreateDate with its offset, sub-seconds
        "photos/gps.jpg": ("2021-06-05T12:30:15.500000Z", True),  # GPS time is UTC
        "photos/xmp.png": ("2021-06-05T12:30:00.250000Z", True),  # XMP photoshop:DateCreated
        "photos/mpo.jpg": (None, False),
    }
    assert "gps" not in json.dumps(files["photos/gps.jpg"]).lower().replace("photos/gps.jpg", "")


def test_phone_videos_are_taken_and_films_keep_their_year(files):
    iphone, android, film = files["mov/iphone.mov"], files["mp4/android.mp4"], files["mkv/film.mkv"]
    assert (iphone["taken_at"], iphone["taken_at_offset"]) == ("2021-06-05T12:30:00Z", True)
    assert (android["taken_at"], android["taken_at_offset"]) == ("2021-06-05T12:30:00Z", False)
    assert (film["year"], film["taken_at"]) == (1942, None)  # muxed in 2021, made in 1942
    assert (files["mp4/h264.mp4"]["taken_at"], files["mp4/h264.mp4"]["year"]) == (None, None)


@pytest.mark.parametrize("asked", ["fre", "fra", "fr", "FR", "French", "fRENCH"])
def test_the_language_filter_takes_any_iso_639_code_or_english_name(files, user_client, asked):
    found = user_client.get(f"/api/libraries/{files['library']}/files/?language={asked}").json()
    assert [item["path"] for item in found["results"]] == ["mkv/film.mkv"]


def test_languages_are_iso_639_2t_whatever_the_file_wrote(files, user_client):
    languages = {path: [s["language"] for s in file["streams"]] for path, file in files.items()
                 if path != "library" and file["streams"]}
    assert languages["mkv/film.mkv"] == [None, "eng", "fra", "eng", "deu"]  # MKV writes fre, ger
    assert languages["webm/clip.webm"] == [None, "spa", "eng"]  # "en" in the file
    found = user_client.get(f"/api/libraries/{files['library']}/files/?language=eng").json()
    assert {item["path"] for item in found["results"]} == {"mkv/film.mkv", "webm/clip.webm", "mp4/android.mp4"}


# ----------------------------------------------------------------- the referee

# Where the catalogue and ffprobe 5.1 differ on purpose, and why.
KNOWN_DIFFERENCES = {
    "codec of a JPEG": "DESIGN 6 names the format 'jpeg'; ffprobe names JPEG images by its decoder family, 'mjpeg'",
    "duration of a track": "the movie header and the track disagree; ffprobe 5.1 gives the header's as the "
                           "file's duration, FFmpeg 8 (PyAV's) the track's, which ffprobe 5.1 also gives the stream",
    "hdr of HDR10+": "HDR10+ metadata is in each frame's SEI, which ffprobe -show_streams does not read",
    "hdr of a Dolby Vision RPU without a box": "ffprobe sees Dolby Vision only in a configuration record (MP4 "
                                               "dvcC, Matroska BlockAdditionMapping), not in the frames' RPU",
}


def test_the_catalogue_agrees_with_ffprobe(files, corpus):
    if not FFPROBE:
        if os.environ.get("REQUIRE_FFPROBE"):
            pytest.fail("REQUIRE_FFPROBE is set but Debian's ffprobe is not installed (make test installs ffmpeg)")
        pytest.skip("Debian's ffprobe is not installed (make test installs ffmpeg)")
    compared, differences = 0, []
    for path, file in sorted(files.items()):
        if path == "library":
            continue
        probe = json.loads(subprocess.run(
            [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(corpus / path)],
            capture_output=True, text=True, check=True, timeout=60).stdout)
        for field, ours, theirs, reason in _pairs(path, file, probe):
            compared += 1
            agree = abs(ours - theirs) <= 0.05 if field == "duration" and None not in (ours, theirs) else ours == theirs
            if not agree:
                differences.append((path, field, ours, theirs, reason))
    unexplained = [difference for difference in differences if difference[4] is None]
    summary = (f"referee: {compared} fields compared with ffprobe, {compared - len(differences)} agree, "
               f"{len(differences) - len(unexplained)} differ on purpose, {len(unexplained)} unexplained")
    print(summary, *(f"  {path} {field}: ours {ours!r}, ffprobe {theirs!r} ({reason})"
                     for path, field, ours, theirs, reason in differences), sep="\n")
    assert not unexplained, summary + "\n" + "\n".join(map(repr, unexplained))
    assert compared > 380  # a referee that compares nothing passes nothing


def _pairs(path: str, file: dict, probe: dict):
    """(field, ours, ffprobe's, the reason they may differ or None) for each fact both tell."""
    streams = [s for s in probe["streams"] if s["codec_type"] in ("video", "audio", "subtitle")
               and not s.get("disposition", {}).get("attached_pic")]
    main = next((s for s in streams if s["codec_type"] == "video"), streams[0] if streams else None)
    if file["kind"] != "image":
        track = float(main.get("duration") or -1) if main is not None else -1
        yield ("duration", file["duration"], float(probe["format"]["duration"]),
               KNOWN_DIFFERENCES["duration of a track"] if abs((file["duration"] or 0) - track) <= 0.05 else None)
    if main is not None:
        jpeg = main["codec_name"] == "mjpeg"
        yield "codec", file["codec"], main["codec_name"], KNOWN_DIFFERENCES["codec of a JPEG"] if jpeg else None
    if main is not None and main["codec_type"] == "video":
        yield "width", file["width"], main["width"], None
        yield "height", file["height"], main["height"], None
    if file["kind"] == "video":
        rotation = next((-int(d["rotation"]) % 360 for d in main.get("side_data_list", []) if "rotation" in d), 0)
        yield "rotation", file["rotation"], rotation, None
        yield "frame_rate", file["frame_rate"], round(float(Fraction(main["avg_frame_rate"])), 3), None
        yield "hdr", file["hdr"], _ffprobe_hdr(main), _hdr_reason(file["hdr"], _ffprobe_hdr(main))
    if main is not None and main["codec_type"] == "audio":
        yield "sample_rate", file["sample_rate"], int(main["sample_rate"]), None
        yield "channels", file["channels"], main["channels"], None
    if main is not None and file["kind"] != "image" and (depth := _ffprobe_depth(main)):
        yield "bit_depth", file["bit_depth"], depth, None
    if file["streams"]:
        yield "stream count", len(file["streams"]), len(streams), None
        for index, (ours, theirs) in enumerate(zip(file["streams"], streams, strict=False)):
            yield f"stream {index} type", ours["type"], theirs["codec_type"], None
            yield f"stream {index} codec", ours["codec"], theirs["codec_name"], None
            yield (f"stream {index} language", ours["language"], language_code(theirs.get("tags", {}).get("language")),
                   None)
            for flag in ("default", "forced", "hearing_impaired"):
                yield f"stream {index} {flag}", ours[flag], bool(theirs["disposition"][flag]), None
            if theirs["codec_type"] == "audio":
                yield f"stream {index} channels", ours["channels"], theirs["channels"], None
                yield f"stream {index} sample_rate", ours["sample_rate"], int(theirs["sample_rate"]), None


def _ffprobe_depth(stream: dict) -> int | None:
    """ffprobe's bits per sample where it states one: PCM's sample size, a lossless codec's or a
    picture's bits_per_raw_sample."""
    if stream["codec_name"].startswith("pcm_"):
        return stream.get("bits_per_sample")
    raw = stream.get("bits_per_raw_sample")
    return int(raw) if raw and raw.isdigit() else None


def _ffprobe_hdr(stream: dict) -> str | None:
    if any(d.get("side_data_type") == "DOVI configuration record" for d in stream.get("side_data_list", [])):
        return "dolby_vision"
    return {"smpte2084": "hdr10", "arib-std-b67": "hlg"}.get(stream.get("color_transfer", ""))


def _hdr_reason(ours: str | None, theirs: str | None) -> str | None:
    if (ours, theirs) == ("hdr10+", "hdr10"):
        return KNOWN_DIFFERENCES["hdr of HDR10+"]
    if (ours, theirs) == ("dolby_vision", "hdr10"):
        return KNOWN_DIFFERENCES["hdr of a Dolby Vision RPU without a box"]
    return None
