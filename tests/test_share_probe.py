"""Whether the walk reads ahead (scanner/core/probe.py): on a slow share, whether or not its
listings carry file types, and never on a local disk (issue 24).

Without types (d_type) a listing stats every entry to tell folders from files, and `os.DirEntry`
caches those stats: a probe timing a folder's `entry.stat()` then measured a cache hit and took
the share for a local disk. These tests look at what the walk decided and at the threads it ran.
"""

import threading
from pathlib import Path

import pytest

from scanner.core import probe
from scanner.core import walk as walk_module
from scanner.core.walk import Walker
from tests.helpers import STAT_ONLY, present_paths, scan_now


@pytest.fixture(autouse=True)
def fresh_findings(monkeypatch):
    """Every walk here probes afresh: nothing remembered from another test's walk."""
    monkeypatch.setattr(probe, "_slow_roots", {})


def build(root: Path, folders: int = 5, subfolders: int = 4, files: int = 3) -> list[str]:
    """Folders of sub-folders of media files, and a file in each folder that is not media."""
    paths = []
    for f in range(folders):
        (root / f"F{f}").mkdir(parents=True)
        (root / f"F{f}" / "notes.txt").write_bytes(b"x")
        for s in range(subfolders):
            for n in range(files):
                rel = f"F{f}/S{s}/{n:02}.{STAT_ONLY}"
                (root / rel).parent.mkdir(exist_ok=True)
                (root / rel).write_bytes(b"x" * n)
                paths.append(rel)
    return paths


def new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    return set(threading.enumerate()) - before


def walk_counting_threads(root: Path, **options) -> tuple[Walker, list[tuple], set[threading.Thread]]:
    """The walk's entries, and every thread seen alive that was not there before it started."""
    before = set(threading.enumerate())
    walker = Walker(str(root), **options)
    entries, seen = [], set()
    for entry in walker:
        entries.append((entry.path, entry.size, entry.error))
        seen |= new_threads(before)
    return walker, entries, seen


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "untyped"])
def test_a_slow_share_is_found_slow_and_read_ahead_with_or_without_types(tmp_path, share, monkeypatch, typed):
    paths = build(tmp_path / "source")
    mount = share(tmp_path / "source", latency=0.002, no_dtype=not typed)  # 2 ms a lookup, stat or listing
    serial = [(entry.path, entry.size, entry.error) for entry in Walker(str(mount.path))]
    assert [path for path, _, _ in serial] == paths

    listed_by: list[str] = []  # the thread that listed (and so typed) each folder, probe listings aside
    real = walk_module.list_folder

    def recording(path, **options):
        listed_by.append(threading.current_thread().name)
        return real(path, **options)

    monkeypatch.setattr(walk_module, "list_folder", recording)
    walker, entries, threads = walk_counting_threads(mount.path, threads=8)
    assert walker.slow_share is True and probe._slow_roots == {walker.root: True}
    assert entries == serial
    assert sorted(thread.name for thread in threads) == [f"readahead-{n}" for n in range(8)]
    # 26 folders, 3 listed by the probe; of the rest, the read-ahead listed (and stat'ed the
    # untyped entries of) all but the one or two the walk reached before a thread had started.
    assert len(listed_by) == 26 - probe.PROBE_FOLDERS
    assert listed_by.count(threading.current_thread().name) <= 3, listed_by


def test_a_local_disk_is_walked_without_threads(tmp_path):
    build(tmp_path / "library", folders=20)
    before = set(threading.enumerate())
    walker = Walker(str(tmp_path / "library"), threads=16)
    assert walker.count(should_stop=lambda: False) == 20 * 4 * 3
    walker, entries, threads = walk_counting_threads(tmp_path / "library", threads=16)
    assert len(entries) == 20 * 4 * 3
    assert walker.slow_share is False and probe._slow_roots == {walker.root: False}
    assert not threads and not new_threads(before)


@pytest.mark.django_db(transaction=True)
def test_a_scan_of_a_local_disk_starts_no_read_ahead_thread(make_library, monkeypatch):
    library = make_library()
    paths = build(Path(library.path), folders=10)
    started: list[str] = []
    real_start = threading.Thread.start

    def start(thread):
        started.append(thread.name)
        return real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    job = scan_now(library, walk_threads=16)
    assert (job.status, job.files_added) == ("completed", len(paths))
    assert present_paths(library) == set(paths)
    assert probe._slow_roots == {library.path: False}
    assert not [name for name in started if name.startswith("readahead-")], started


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "untyped"])
def test_a_media_file_the_share_lists_but_cannot_look_up_is_failed_not_dropped(tmp_path, share, typed):
    """Without types, is_file() of such a name says False rather than fail: the walk must still
    yield it (failed, its row kept), as it does where the listing gives its type."""
    build(tmp_path / "source", folders=1, subfolders=1)
    mount = share(tmp_path / "source", no_dtype=not typed, enoent_getattr=[f"F0/S0/01.{STAT_ONLY}"])
    for options in ({}, {"threads": 4, "slow_share": True}):
        walker = Walker(str(mount.path), **options)
        failed = {entry.path: entry.error for entry in walker if entry.error}
        assert list(failed) == [f"F0/S0/01.{STAT_ONLY}"]
        assert failed[f"F0/S0/01.{STAT_ONLY}"].startswith("cannot be read")
        assert walker.count(should_stop=lambda: False) == 3


def test_on_an_untyped_slow_share_the_count_takes_media_names_at_their_word(tmp_path, share):
    """The count asks no type of a name with a media extension (a round trip each on such a
    share); a folder so named is then counted as one file. The walk itself is exact."""
    paths = build(tmp_path / "source", folders=2, subfolders=1)
    for n in range(2):
        (tmp_path / "source" / "Film.mkv" / f"part{n}.{STAT_ONLY}").parent.mkdir(exist_ok=True)
        (tmp_path / "source" / "Film.mkv" / f"part{n}.{STAT_ONLY}").write_bytes(b"x")
    mount = share(tmp_path / "source", no_dtype=True)
    serial = Walker(str(mount.path))
    assert serial.count(should_stop=lambda: False) == len(paths) + 2
    walker = Walker(str(mount.path), threads=4, slow_share=True)
    assert walker.count(should_stop=lambda: False) == len(paths) + 1
    assert [entry.path for entry in walker] == [entry.path for entry in serial] == sorted(
        [*paths, f"Film.mkv/part0.{STAT_ONLY}", f"Film.mkv/part1.{STAT_ONLY}"])
