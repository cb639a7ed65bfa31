"""The walk: sorted, resumable, safe on hostile trees (scanner/core/walk.py, no database)."""

import os
from pathlib import Path

import pytest

from scanner.core.root import RootUnavailable
from scanner.core.walk import Walker
from tests.helpers import unprivileged_filesystem_access


def touch(root: Path, rel: str, data: bytes = b"x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def paths(root, **kwargs) -> list[str]:
    return [entry.path for entry in Walker(str(root), **kwargs)]


TRICKY = ["b.mp3", "b/x.mp3", "b-c.mp3", "b c/y.mp3", "B.mp3", "bé.mp3", "a/b/c/d.flac", "a.mkv", "a/z.jpg",
          "Ä/ü.ogg", "zz/a b/01.mp3", "zz/a-b/02.mp3", "zz/a/03.mp3"]


def test_walk_order_is_plain_string_order(tmp_path):
    for rel in TRICKY:
        touch(tmp_path, rel)
    assert paths(tmp_path) == sorted(TRICKY)


@pytest.mark.parametrize("checkpoint",
                         ["", "a.mkv", "a/b/c/d.flac", "b c/y.mp3", "b.mp3", "b/", "bé.mp3", "zz/a b/01.mp3", "zzz"])
def test_resuming_after_a_checkpoint_yields_exactly_the_rest(tmp_path, checkpoint):
    for rel in TRICKY:
        touch(tmp_path, rel)
    assert paths(tmp_path, after=checkpoint) == [p for p in sorted(TRICKY) if p > checkpoint]


def test_a_checkpoint_that_no_longer_exists_still_resumes_in_place(tmp_path):
    for rel in TRICKY:
        touch(tmp_path, rel)
    assert paths(tmp_path, after="b/gone.mp3") == [p for p in sorted(TRICKY) if p > "b/gone.mp3"]


def test_only_media_is_yielded_with_kind_extension_size_and_mtime(tmp_path):
    touch(tmp_path, "Film.MKV", b"12345")
    touch(tmp_path, "readme.txt")
    touch(tmp_path, "noext")
    (entry,) = Walker(str(tmp_path))
    st = os.stat(tmp_path / "Film.MKV")
    assert (entry.path, entry.kind, entry.extension, entry.size, entry.mtime_ns) == (
        "Film.MKV", "video", "mkv", 5, st.st_mtime_ns)


def test_classification_table(tmp_path):
    expected = {
        "a.mkv": ("video", "mkv"), "b.M4V": ("video", "m4v"), "c.ts": ("video", "ts"), "d.flac": ("audio", "flac"),
        "e.opus": ("audio", "opus"), "f.aiff": ("audio", "aiff"), "g.wv": ("audio", "wv"),
        "h.HEIC": ("image", "heic"), "i.webp": ("image", "webp"),
    }
    for name in [*expected, "a.nfo", "a.srt", ".mp3", "mp3", "noext"]:
        touch(tmp_path, name)
    assert {e.path: (e.kind, e.extension) for e in Walker(str(tmp_path))} == expected


def test_hidden_and_system_folders_are_skipped(tmp_path):
    for rel in [".git/x.mp3", "@eaDir/x.jpg", "$RECYCLE.BIN/x.mkv", "#recycle/y.mkv", "System Volume Information/z.mp4",
                "._AppleDouble.mp3", "keep/a.mp3"]:
        touch(tmp_path, rel)
    assert paths(tmp_path) == ["keep/a.mp3"]


def test_symlinks_stay_inside_the_root_and_never_loop(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    touch(root, "music/a.mp3")
    touch(outside, "secret.mp3")
    (root / "escape").symlink_to(outside)
    (root / "escape.mp3").symlink_to(outside / "secret.mp3")
    (root / "music/loop").symlink_to(root)
    (root / "music/self").symlink_to(root / "music")
    (root / "alias").symlink_to(root / "music")
    assert paths(root) == ["alias/a.mp3", "music/a.mp3"]


def test_unreadable_folders_are_reported_and_skipped(public_tmp):
    touch(public_tmp, "open/a.mp3")
    touch(public_tmp, "locked/b.mp3")
    (public_tmp / "locked").chmod(0)
    errors = []
    with unprivileged_filesystem_access():
        found = paths(public_tmp, on_dir_error=lambda prefix, exc: errors.append((prefix, type(exc).__name__)))
    assert found == ["open/a.mp3"]
    assert errors == [("locked/", "PermissionError")]


def test_a_non_utf8_name_is_yielded_as_a_failure_not_a_crash(tmp_path):
    touch(tmp_path, "good.mp3")
    os.makedirs(os.path.join(os.fsencode(tmp_path), b"bad\xff dir"))
    open(os.path.join(os.fsencode(tmp_path), b"bad\xff dir", b"song.mp3"), "wb").close()
    open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.flac"), "wb").close()
    entries = list(Walker(str(tmp_path)))
    assert [e.path for e in entries if not e.error] == ["good.mp3"]
    bad = [e for e in entries if e.error]
    assert len(bad) == 2 and all(e.bad_name and "UTF-8" in e.error for e in bad)


def test_a_vanished_file_is_yielded_with_its_reason(tmp_path):
    touch(tmp_path, "a.mp3")
    touch(tmp_path, "b.mp3")
    walker = iter(Walker(str(tmp_path)))
    first = next(walker)
    assert first.path == "a.mp3" and not first.error
    (tmp_path / "b.mp3").unlink()  # listed already, gone before its stat
    second = next(walker)
    assert (second.path, second.error) == ("b.mp3", "vanished during the scan")


def test_a_missing_root_is_refused(tmp_path):
    with pytest.raises(RootUnavailable, match="not available"):
        Walker(str(tmp_path / "nowhere"))


def test_a_root_removed_mid_walk_stops_the_walk(tmp_path):
    root = tmp_path / "root"
    for i in range(3):
        touch(root, f"d{i}/a.mp3")
    walker = iter(Walker(str(root)))
    next(walker)
    os.rename(root, tmp_path / "moved")
    with pytest.raises(RootUnavailable):
        list(walker)


def test_discovery_counts_what_the_walk_yields(tmp_path):
    for rel in TRICKY + ["x.txt", ".h/y.mp3"]:
        touch(tmp_path, rel)
    assert Walker(str(tmp_path)).count(should_stop=lambda: False) == len(TRICKY)
