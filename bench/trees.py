"""Deterministic synthetic libraries for the benchmarks (made once, reused while unchanged)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests import media

DATA = Path(__file__).resolve().parent / "data"
TRACKS_PER_ALBUM = 12
ALBUMS_PER_ARTIST = 8


def stat_only_tree(count: int) -> Path:
    """`count` media-named files in Artist/Album folders; empty files, so scans only stat them."""
    root = DATA / f"stat-{count}"
    # "empty": trees made before the scanner read videos and photos had 1% one-byte files left by
    # change_one_percent, which a first scan would now try to read.
    return _ensure(root, {"kind": "stat-only", "count": count, "empty": True}, lambda: _write_stat_only(root, count))


def watch_tree(count: int) -> Path:
    """The stat-only tree again, apart: the watching benchmark changes it (and puts it back)."""
    root = DATA / f"watch-{count}"
    return _ensure(root, {"kind": "watch", "count": count}, lambda: _write_stat_only(root, count))


def tagged_tree(count: int) -> Path:
    """`count` real tagged audio files (MP3, FLAC, M4A, WAV in turn), a few KB each."""
    root = DATA / f"tagged-{count}"
    return _ensure(root, {"kind": "tagged", "count": count}, lambda: _write_tagged(root, count))


def share_tree(count: int) -> Path:
    """`count` empty media-named files, 20 to a folder, in 10 artist folders: the slow-share tree."""
    root = DATA / f"share-{count}"

    def write() -> None:
        for i in range(count):
            path = root / f"Artist {i // 200 % 10:02d}/Album {i // 20:03d}/{i % 20 + 1:02d} Track.mkv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    return _ensure(root, {"kind": "share", "count": count}, write)


def video_tree(count: int) -> Path:
    """`count` real small videos (MKV, MP4, WebM in turn; 10 frames, an audio track, a subtitle
    track in the MKVs), a few KB each, in Show/Season folders."""
    root = DATA / f"videos-{count}"
    return _ensure(root, {"kind": "videos", "count": count}, lambda: _write_videos(root, count))


def photo_tree(count: int) -> Path:
    """`count` photos in Year/Event folders: three in four 1600×1200 JPEGs with the EXIF a camera
    writes (60 KB each), one in four an 800×600 PNG without EXIF (a screenshot, a scan)."""
    root = DATA / f"photos-{count}"
    return _ensure(root, {"kind": "photos", "count": count, "camera": True}, lambda: _write_photos(root, count))


def _write_videos(root: Path, count: int) -> None:
    for i in range(count):
        show, episode = divmod(i, 20)
        folder = root / f"Show {show // 5:03d}/Season {show % 5 + 1:02d}"
        kind = i % 3
        if kind == 0:
            media.write_video(folder / f"Episode {episode + 1:02d}.mkv", audio=("eng", "fre"), subtitles=("eng",))
        elif kind == 1:
            media.write_video(folder / f"Episode {episode + 1:02d}.mp4", video_codec="libx264", audio=("eng",))
        else:
            media.write_video(folder / f"Episode {episode + 1:02d}.webm", video_codec="libvpx", audio=("spa",),
                              audio_codec="libopus")


def _write_photos(root: Path, count: int) -> None:
    for i in range(count):
        event, shot = divmod(i, 50)
        folder = root / f"{2000 + event % 20}/Event {event:03d}"
        if i % 4 == 3:
            media.write_photo(folder / f"IMG_{shot:04d}.png", width=800, height=600)
        else:
            media.write_photo(folder / f"IMG_{shot:04d}.jpg", width=1600, height=1200, camera=True,
                              taken=f"{2000 + event % 20}:06:05 14:{shot % 60:02d}:00", offset="+02:00")


def relative_paths(count: int) -> list[str]:
    return [_stat_only_path(i) for i in range(count)]


def change_one_percent(root: Path, count: int) -> int:
    """Touch every hundredth file (a new mtime; still empty, so still not read); returns how many."""
    changed = 0
    for i in range(0, count, 100):
        path = root / _stat_only_path(i)
        before = path.stat().st_mtime_ns
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))
        changed += 1
    return changed


def _stat_only_path(i: int) -> str:
    artist, rest = divmod(i, TRACKS_PER_ALBUM * ALBUMS_PER_ARTIST)
    album, track = divmod(rest, TRACKS_PER_ALBUM)
    return f"Artist {artist:05d}/Album {album:02d}/{track + 1:02d} Track.{('mkv', 'avi', 'jpg', 'webm')[i % 4]}"


def _write_stat_only(root: Path, count: int) -> None:
    made = set()
    for i in range(count):
        path = root / _stat_only_path(i)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.touch()


def _write_tagged(root: Path, count: int) -> None:
    writers = [(media.write_mp3, "mp3"), (media.write_flac, "flac"), (media.write_mp4, "m4a"), (media.write_wav, "wav")]
    for i in range(count):
        writer, ext = writers[i % len(writers)]
        album, track = divmod(i, TRACKS_PER_ALBUM)
        tags = {"title": f"Track {track + 1}", "artist": f"Artist {album // ALBUMS_PER_ARTIST}",
                "album": f"Album {album}", "track": track + 1, "year": 1990 + album % 30}
        writer(root / f"Artist {album // ALBUMS_PER_ARTIST:03d}/Album {album:03d}/{track + 1:02d} Track.{ext}",
               tags=tags)


def _ensure(root: Path, spec: dict, make) -> Path:
    marker = root / ".bench-spec.json"  # hidden: the scanner skips it
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    make()
    marker.write_text(json.dumps(spec))
    return root
