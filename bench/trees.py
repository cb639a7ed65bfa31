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
    return _ensure(root, {"kind": "stat-only", "count": count}, lambda: _write_stat_only(root, count))


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


def relative_paths(count: int) -> list[str]:
    return [_stat_only_path(i) for i in range(count)]


def change_one_percent(root: Path, count: int) -> int:
    """Rewrite every hundredth file (one byte, a new mtime); returns how many."""
    changed = 0
    for i in range(0, count, 100):
        path = root / _stat_only_path(i)
        before = path.stat().st_mtime_ns
        path.write_bytes(b"x")
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
