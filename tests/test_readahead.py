"""The walk with read-ahead (scanner/core/readahead.py) yields exactly what the serial walk yields.

Random trees, with names that sort around '/', symlink loops, links out of the root and inside
it, and on a FUSE share folders that cannot be listed and names that cannot be looked up: for any
thread count and read-ahead depth, the same entries in the same order, the same folder errors,
and from any checkpoint exactly the remainder. Then the rest of a slow share's path: each folder
listed once, a big folder never holding the walk back, a scan of a slow share, and tag readers
that read several files at once and still give up a hung one.
"""

import collections
import contextlib
import itertools
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.core import probe
from scanner.core import walk as walk_module
from scanner.core.walk import Walker
from tests.procs import wait_until

NAMES = ["a", "a b", "a-b", "a.b", "a0", "b", "B", "é", "z"]
FILES = ["01.mp3", "a.mkv", "b c.flac", "x.txt", ".hidden.mp3", "Z.JPG"]
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

folders = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join), max_size=8, unique=True)


@st.composite
def trees(draw):
    """Folders, files in them, symlinks, the faults a share may have (on some of those paths),
    the walks to compare with the serial one, and where to resume."""
    dirs = sorted({prefix for folder in draw(folders) for prefix in _prefixes(folder)})
    places = ["", *dirs]
    files = sorted({f"{place}/{name}".lstrip("/") for place, name in draw(
        st.lists(st.tuples(st.sampled_from(places), st.sampled_from(FILES)), max_size=25))})
    links = draw(st.lists(st.tuples(st.sampled_from(places), st.sampled_from(["loop", "out", "in"]),
                                    st.sampled_from(places)), max_size=3))
    faults = draw(st.fixed_dictionaries({
        "eio_readdir": st.lists(st.sampled_from(dirs), max_size=2) if dirs else st.just([]),
        "eio_getattr": st.lists(st.sampled_from(dirs + files), max_size=2) if dirs + files else st.just([]),
        "enoent_getattr": st.lists(st.sampled_from(files), max_size=2) if files else st.just([]),
    }))
    # Thread count, entries held ahead, and when read-ahead starts: from the first folder, or
    # after that many folders were walked serially (the walk measured a slow share).
    walks = draw(st.lists(st.tuples(st.integers(1, 8), st.sampled_from([1, 2, 64]), st.integers(0, 3)),
                          min_size=1, max_size=2))
    checkpoint = draw(st.integers(0, 40))
    return dirs, files, links, faults, walks, checkpoint


def _prefixes(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


def build(root: Path, outside: Path, dirs, files, links) -> None:
    root.mkdir(parents=True)
    for folder in dirs:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for rel in files:
        (root / rel).write_bytes(b"x" * (len(rel) % 7))
    for n, (place, kind, target) in enumerate(links):
        link = root / place / f"link{n}"
        if kind == "loop":
            link.symlink_to(root / place if place else root)
        elif kind == "out":
            link.symlink_to(outside)
        else:
            link.symlink_to(root / target)


def walk(root: Path, **options) -> tuple[list, list]:
    errors: list = []
    walker = Walker(str(root), on_dir_error=lambda prefix, error: errors.append((prefix, error.errno)), **options)
    entries = [(entry.path, entry.kind, entry.size, entry.error, entry.bad_name) for entry in walker]
    count = walker.count(should_stop=lambda: False)
    return entries + [("count", count)], errors


@contextlib.contextmanager
def read_ahead_after(folders: int):
    """Walks that find a slow share after `folders` folder listings (0: read ahead from the start)."""
    if not folders:
        yield {"slow_share": True}
        return
    saved = probe.PROBE_FOLDERS, probe.SLOW_LISTING
    probe.PROBE_FOLDERS, probe.SLOW_LISTING = folders, -1.0
    probe._slow_roots.clear()  # each walk probes afresh
    try:
        yield {}
    finally:
        probe.PROBE_FOLDERS, probe.SLOW_LISTING = saved


def check_same_as_serial(root: Path, walks, checkpoint: int) -> None:
    entries, errors = walk(root)
    paths = [entry[0] for entry in entries[:-1]]
    after = paths[checkpoint % len(paths)] if paths and checkpoint < 30 else ""
    remainder = [entry for entry in entries[:-1] if entry[0] > after] + entries[-1:]
    for threads, ahead, serial_folders in walks:
        with read_ahead_after(serial_folders) as options:
            assert walk(root, threads=threads, ahead=ahead, **options) == (entries, errors), (threads, ahead)
            resumed = walk(root, after=after, threads=threads, ahead=ahead, **options)[0]
        assert resumed == remainder, (threads, ahead, after)


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "escaped.mp3").write_bytes(b"x")
    return folder


def test_read_ahead_walks_exactly_like_the_serial_walk(tmp_path, outside):
    counter = itertools.count()

    @SETTINGS
    @given(trees())
    def check(tree):
        dirs, files, links, _, walks, checkpoint = tree
        root = tmp_path / f"t{next(counter)}"
        build(root, outside, dirs, files, links)
        check_same_as_serial(root, walks, checkpoint)

    check()


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "untyped"])
def test_read_ahead_walks_a_faulty_share_exactly_like_the_serial_walk(tmp_path, outside, share, typed, monkeypatch):
    """Untyped: the share gives no types (d_type) in its listings, so every entry is stat'ed to
    be classified (in the read-ahead's threads, several for a folder of more than 2 entries here)."""
    from scanner.core import readahead

    monkeypatch.setattr(readahead, "TYPE_AHEAD", 2)
    monkeypatch.setattr(readahead, "STAT_CHUNK", 2)
    source = tmp_path / "source"
    source.mkdir()
    mount = share(source, no_dtype=not typed)
    counter = itertools.count()

    @SETTINGS
    @given(trees())
    def check(tree):
        dirs, files, links, faults, walks, checkpoint = tree
        name = f"t{next(counter)}"
        build(source / name, outside, dirs, files, links)
        mount.set(**{key: [f"{name}/{rel}" for rel in rels] for key, rels in faults.items()})
        check_same_as_serial(mount.path / name, walks, checkpoint)

    check()


def test_a_walk_stopped_mid_folder_and_resumed_yields_the_remainder_exactly(tmp_path):
    for n in range(300):
        path = tmp_path / f"d{n % 7}" / f"s{n % 3}" / f"{n:03}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    everything = [entry.path for entry in Walker(str(tmp_path))]
    for stop_at in (0, 1, 42, 150, 299):
        walker = iter(Walker(str(tmp_path), threads=4, ahead=4, slow_share=True))
        seen = [next(walker).path for _ in range(stop_at + 1)]
        walker.close()  # what a pause does: the generator is dropped mid-folder
        rest = [entry.path for entry in Walker(str(tmp_path), after=seen[-1], threads=4, ahead=4, slow_share=True)]
        assert seen + rest == everything
    wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("readahead-")], timeout=10,
               what="the read-ahead threads of the stopped walks to end")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "untyped"])
def test_a_scan_of_a_slow_share_reads_ahead_and_catalogues_everything(make_library, tmp_path, share, typed):
    from tests import media
    from tests.helpers import STAT_ONLY, present_paths, scan_now

    source = tmp_path / "source"
    stat_only = [f"Films/{n // 6:02}/{n:03}.{STAT_ONLY}" for n in range(48)]
    for rel in stat_only:
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(b"x" * 10)
    (source / "Music/Album").mkdir(parents=True)
    media.write_mp3(source / "Music/Album/01.mp3", tags={"title": "One", "artist": "A"})
    media.write_flac(source / "Music/Album/02.flac", tags={"title": "Two", "artist": "A"})
    mount = share(source, latency=0.003, no_dtype=not typed)  # a 3 ms round trip for every stat, listing and open
    library = make_library(path=mount.path)

    probe._slow_roots.pop(library.path, None)
    job = scan_now(library, walk_threads=8)
    assert (job.status, job.files_found, job.files_added, job.files_failed) == ("completed", 50, 50, 0)
    assert probe._slow_roots[library.path] is True  # the walk found the share slow, so it read ahead
    assert present_paths(library) == {*stat_only, "Music/Album/01.mp3", "Music/Album/02.flac"}
    assert library.files.get(path="Music/Album/02.flac").title == "Two"

    mount.set(eio_readdir=["Films/03"])
    job = scan_now(library, walk_threads=8)
    assert (job.status, job.files_unchanged, job.dirs_failed, job.files_missing) == ("completed", 44, 1, 0)
    assert len(present_paths(library)) == 50


@pytest.mark.timeout(60)
def test_readers_on_a_slow_share_read_several_files_at_once_and_still_give_up_a_hung_one(tmp_path, share):
    from scanner.core import readers as extraction
    from tests import media

    names = [f"{n:02}.mp3" for n in range(20)]
    for name in names:
        media.write_mp3(tmp_path / "source" / name, tags={"title": name})
    (tmp_path / "source" / "junk.mp3").write_bytes(b"not audio at all" * 100)
    mount = share(tmp_path / "source", hang_read=["07.mp3"])
    paths = [str(mount.path / name) for name in [*names, "junk.mp3"]]
    try:
        results = extraction.PendingReads(paths, 1, timeout=1, threads=8).results()
    finally:
        extraction.shutdown_pool()
    titles = [metadata.get("title") for metadata, _ in results]
    errors = [error for _, error in results]
    assert titles[:7] == names[:7] and titles[8:20] == names[8:] and titles[7] is None
    assert errors[7].startswith("timed out") and errors[20] and not any(errors[:7] + errors[8:20])


def test_each_folder_is_listed_once_even_when_the_walk_waits_for_it(tmp_path, monkeypatch):
    for n in range(18):
        path = tmp_path / f"d{n // 3}" / f"s{n % 3}" / f"{n}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    listed: collections.Counter = collections.Counter()
    real = walk_module.list_folder

    def round_trip(path, **options):
        listed[path] += 1
        time.sleep(0.02)  # the walk catches up with the threads and waits for them
        return real(path, **options)

    monkeypatch.setattr(walk_module, "list_folder", round_trip)
    assert len(list(Walker(str(tmp_path), threads=2, slow_share=True))) == 18
    assert len(listed) == 25 and set(listed.values()) == {1}


def test_the_walk_goes_through_a_big_folder_while_its_entries_are_still_being_stated():
    """The listing is handed over at once: a folder's stats never hold the walk back (and with
    it the stop checks and commits), whatever their number."""
    from scanner.core.readahead import ReadAhead

    release = threading.Event()

    class Entry:
        def __init__(self, n):
            self.name = f"{n:04}.mp3"

        def stat(self):
            release.wait(30)  # a share that takes its time

        def is_symlink(self):
            return False

    listing = [(Entry(n), ("audio", "mp3")) for n in range(400)]
    reader = ReadAhead(root="/share", threads=4, ahead=10_000, list_folder=lambda path, **_: listing,
                       skip=lambda folder: False, stat_files=True)
    try:
        taken = []
        taker = threading.Thread(target=lambda: taken.append(reader.take("")))
        taker.start()
        taker.join(10)
        assert taken == [listing], "the listing waited for the stats of its entries"
    finally:
        release.set()
        reader.close()


def test_a_big_folder_without_types_is_typed_by_several_threads_each_entry_once():
    """Where the listing gives no types, classifying an entry is a stat (a round trip): a big
    folder's are shared out between the thread listing it and the free ones, never repeated."""
    from scanner.core.listing import classify
    from scanner.core.readahead import ReadAhead

    typed_by: dict[str, list[str]] = collections.defaultdict(list)

    class Untyped:  # an os.DirEntry of a listing without d_type: its first question costs a stat
        def __init__(self, n):
            self.name = self.path = f"{n:04}.mp3"
            self._stat = None

        def is_symlink(self):
            if self._stat is None:
                typed_by[self.name].append(threading.current_thread().name)
                time.sleep(0.002)
                self._stat = "file"
            return False

        def is_file(self):
            self.is_symlink()
            return True

        def stat(self):
            self.is_symlink()

    def list_folder(path, on_read=None):
        raw = [Untyped(n) for n in range(200)]
        if on_read is not None:
            on_read(raw)
        return classify(raw, sort=True, inside_root=lambda path: True)

    reader = ReadAhead(root="/share", threads=4, ahead=10_000, list_folder=list_folder,
                       skip=lambda folder: False, stat_files=True)
    try:
        assert [entry.name for entry, _ in reader.take("")] == [f"{n:04}.mp3" for n in range(200)]
    finally:
        reader.close()
    assert len(typed_by) == 200 and all(len(threads) == 1 for threads in typed_by.values())
    helpers = {threads[0] for threads in typed_by.values()} - {threading.current_thread().name}
    assert helpers and all(name.startswith("readahead-") for name in helpers)
