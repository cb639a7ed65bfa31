"""Live watching (DESIGN.md 8): inotify through watchdog, one watching process per library,
taken over when it dies; real gunicorn processes where processes matter."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from libraries.models import MediaFile
from scanner.jobs import changes, services
from scanner.models import LibraryWatch, PendingChange, ScanJob, Worker
from scanner.runtime.watching import SYNC_INTERVAL, Watcher
from tests.helpers import STAT_ONLY, make_worker, many_files, present_paths, run_job
from tests.procs import Gunicorn, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {"SCANNER_HEARTBEAT_INTERVAL": "0.3", "SCANNER_WORKER_TIMEOUT": "2", "SCANNER_RECONCILE_INTERVAL": "1",
        "SCANNER_CLAIM_INTERVAL": "0.2", "SCANNER_METADATA_WORKERS": "0", "SCANNER_WATCH": "true",
        "SCANNER_WATCH_DELAY": "1"}


def scanned(library) -> None:
    """The library's first scan, by the user (watching never starts one by itself)."""
    run_job(services.scan_start(library_id=library.pk).job)


def row(library, rel: str) -> MediaFile | None:
    return MediaFile.objects.filter(library=library, path=rel).first()


def settled(library) -> bool:
    return not ScanJob.objects.filter(library=library, status__in=ScanJob.OPEN_STATUSES).exists()


def test_a_watched_library_catalogues_new_deleted_and_renamed_files(make_library, runtime):
    library = make_library()
    root = Path(library.path)
    many_files(root, 60)
    scanned(library)
    rt = runtime(watch=True, watch_delay=1)
    lease = wait_until(lambda: LibraryWatch.objects.filter(library=library).first(), timeout=10, what="the watch")
    assert lease.worker_id == rt.identity.worker.pk and not lease.partial
    catch_up = wait_until(lambda: ScanJob.objects.filter(library=library, trigger="catch_up").first(), timeout=10,
                          what="the catch-up scan")
    assert catch_up.scope == []  # changes made while nobody watched
    wait_until(lambda: settled(library), timeout=20, what="the catch-up scan")

    (root / f"Show 000/New.{STAT_ONLY}").write_bytes(b"new")
    wait_until(lambda: row(library, f"Show 000/New.{STAT_ONLY}"), timeout=10, what="the new file")
    (root / f"Show 001/Episode 004.{STAT_ONLY}").unlink()
    wait_until(lambda: row(library, f"Show 001/Episode 004.{STAT_ONLY}").missing, timeout=10, what="missing")
    touched = root / f"Show 000/Episode 009.{STAT_ONLY}"
    mtime = touched.stat().st_mtime_ns + 10**9
    os.utime(touched, ns=(mtime, mtime))  # a touch: only the stats change
    wait_until(lambda: row(library, f"Show 000/Episode 009.{STAT_ONLY}").mtime_ns == mtime, timeout=10,
               what="the new mtime")
    before = row(library, f"Show 000/Episode 007.{STAT_ONLY}")
    os.renames(root / before.path, root / f"Show 001/Moved/Episode 007.{STAT_ONLY}")
    wait_until(lambda: MediaFile.objects.get(pk=before.pk).path == f"Show 001/Moved/Episode 007.{STAT_ONLY}",
               timeout=10, what="the move")

    jobs = ScanJob.objects.filter(library=library, trigger="watch").exclude(pk=catch_up.pk)
    assert jobs.exists() and all(job.scope for job in jobs)  # targeted: the folders that changed
    assert max(job.files_found for job in jobs) <= 60
    assert MediaFile.objects.filter(library=library, missing=False).count() == 60


def test_a_new_library_is_watched_but_not_scanned_and_watch_off_is_not_watched(make_library, runtime):
    library, unwatched = make_library(), make_library(watch=False)
    media = Path(library.path) / f"a.{STAT_ONLY}"
    media.write_bytes(b"x")
    runtime(watch=True, watch_delay=1)
    wait_until(lambda: LibraryWatch.objects.filter(library=library).exists(), timeout=10, what="the watch")
    assert not ScanJob.objects.filter(library=library).exists()  # the first scan is the user's
    assert not LibraryWatch.objects.filter(library=unwatched).exists()

    (Path(library.path) / f"b.{STAT_ONLY}").write_bytes(b"x")  # a change: a targeted scan, not a whole one
    job = wait_until(lambda: ScanJob.objects.filter(library=library, status="completed").first(), timeout=10,
                     what="the scan of the change")
    assert job.scope == [f"b.{STAT_ONLY}"] and present_paths(library) == {f"b.{STAT_ONLY}"}

    library.watch = False
    library.save()
    wait_until(lambda: not LibraryWatch.objects.filter(library=library).exists(), timeout=10, what="the unwatch")


def test_a_library_folder_that_goes_away_is_watched_again_with_a_catch_up_scan_when_it_is_back(make_library,
                                                                                                runtime):
    library = make_library()
    root = Path(library.path)
    many_files(root, 10)
    scanned(library)
    runtime(watch=True, watch_delay=1)
    # The watch is whole once its catch-up scan has run: the lease alone is written before the
    # watch is scheduled, and taking the folder away in between is a failed watch, not a dropped one.
    wait_until(lambda: ScanJob.objects.filter(library=library, trigger="catch_up", status="completed").exists(),
               timeout=20, what="the catch-up scan")
    away = root.with_name(root.name + "-unmounted")
    root.rename(away)  # what an unmounted share looks like from here
    wait_until(lambda: not LibraryWatch.objects.filter(library=library).exists(), timeout=10, what="the drop")
    away.rename(root)
    (root / f"Show 000/While Away.{STAT_ONLY}").write_bytes(b"x")
    wait_until(lambda: row(library, f"Show 000/While Away.{STAT_ONLY}"), timeout=20, what="the catch-up scan")
    wait_until(lambda: LibraryWatch.objects.filter(library=library).exists(), timeout=10, what="the watch again")


# ------------------------------------------------------------------ from review
def ticks_until(watcher, worker, predicate, timeout: float) -> bool:
    """Run the watch duty by hand (no runtime) until `predicate` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watcher.tick(worker)
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_catch_up_waits_for_an_open_targeted_scan_instead_of_being_dropped(make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 100)
    scanned(library)
    services.scan_start(library_id=library.pk, paths=["Show 000"])
    services.scan_pause(library_id=library.pk)
    (root / f"Show 001/Added While Down.{STAT_ONLY}").write_bytes(b"x")
    worker, watcher = make_worker(), Watcher(delay=1, label="test")
    try:
        watcher.tick(worker)
        assert LibraryWatch.objects.filter(library=library, worker=worker).exists()
    finally:
        watcher.stop()
    assert PendingChange.objects.filter(library=library, path="").exists()  # the whole library, waiting

    run_job(services.scan_resume(library_id=library.pk).job)
    (catch_up,) = changes.queue_scans_for_changes()
    assert catch_up.scope == [] and catch_up.trigger == "catch_up"
    run_job(catch_up)
    assert f"Show 001/Added While Down.{STAT_ONLY}" in present_paths(library)


def test_a_watched_folder_deleted_and_made_again_is_watched_again(make_library):
    library = make_library()
    root = Path(library.path)
    (root / "Show").mkdir()
    worker, watcher = make_worker(), Watcher(delay=1, label="test")
    try:
        watcher.tick(worker)
        assert LibraryWatch.objects.filter(library=library, worker=worker).exists()
        shutil.rmtree(root)
        root.mkdir()
        (root / "Show").mkdir()
        time.sleep(SYNC_INTERVAL)
        watcher.tick(worker)  # a sync: the old watch died with the old folder
        ticks_until(watcher, worker, lambda: LibraryWatch.objects.filter(library=library).exists(), 5)
        (root / f"Show/b.{STAT_ONLY}").write_bytes(b"x")
        assert ticks_until(watcher, worker, lambda: ScanJob.objects.filter(library=library).exists(), 10), (
            "a new file in the folder made again went unnoticed")
    finally:
        watcher.stop()


def test_an_inotify_queue_overflow_becomes_a_scan_of_the_whole_library(make_library):
    knob = Path("/proc/sys/fs/inotify/max_queued_events")
    try:
        old = knob.read_text()
        knob.write_text(old)
    except OSError:
        pytest.skip("needs root to change fs.inotify.max_queued_events")
    library = make_library()
    root = Path(library.path)
    worker, watcher = make_worker(), Watcher(delay=1, label="test")
    before = _inotify_instances()
    try:
        knob.write_text("16\n")  # read when the inotify instance is made: in watchdog's own thread, later
        watcher.tick(worker)
        assert ticks_until(watcher, worker, lambda: _inotify_instances() > before, 10)
    finally:
        knob.write_text(old)
    staging = root.with_name(root.name + "-staging")
    for i in range(200):
        (staging / f"Folder {i:03d}").mkdir(parents=True)
        (staging / f"Folder {i:03d}/x.{STAT_ONLY}").write_bytes(b"x")
    try:
        # Copied in by cp, in C: hundreds of events in milliseconds, faster than watchdog's thread
        # reads 16 (written from Python, watchdog kept up on a quiet machine and nothing overflowed).
        subprocess.run(["cp", "-a", f"{staging}/.", str(root)], check=True)
        # Written once the library is quiet, or MAX_WAIT after the first event if the flood goes on;
        # watchdog 7 reports the overflow only after it has re-added its watches below the root
        # (about 30 s for these 200 folders), hence the long deadline.
        assert ticks_until(watcher, worker, lambda: any(job.scope == [] for job in ScanJob.objects.filter(
            library=library)) or PendingChange.objects.filter(library=library, path="").exists(), 120)
    finally:
        watcher.stop()


def _inotify_instances() -> int:
    """inotify instances this process holds (its file descriptors on anon_inode:inotify)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            pass
    return count


def _inotify_watches_in_use() -> int:
    count = 0
    for fdinfo in Path("/proc").glob("[0-9]*/fdinfo/*"):
        try:
            count += sum(line.startswith("inotify wd:") for line in fdinfo.read_text().splitlines())
        except OSError:
            pass
    return count


@pytest.fixture
def inotify_limit():
    """Lower the kernel's inotify watch limit (fs.inotify.max_user_watches) for one test."""
    knob = Path("/proc/sys/fs/inotify/max_user_watches")
    try:
        old = knob.read_text()
        knob.write_text(old)
    except OSError:
        pytest.skip("needs root to change fs.inotify.max_user_watches")

    def lower(spare: int) -> None:
        knob.write_text(str(_inotify_watches_in_use() + spare))

    yield lower
    knob.write_text(old)


def test_the_kernel_watch_limit_leaves_the_library_watched_in_part(make_library, runtime, inotify_limit):
    library = make_library()
    root = Path(library.path)
    many_files(root, 100, per_folder=10)  # ten folders: more watches than the limit leaves
    scanned(library)
    inotify_limit(3)
    runtime(watch=True, watch_delay=1)

    lease = wait_until(lambda: LibraryWatch.objects.filter(library=library, partial=True).first(), timeout=10,
                       what="a partial watch")
    assert "inotify limit" in lease.note and "scheduled scans" in lease.note
    wait_until(lambda: settled(library), timeout=20, what="the catch-up scan")
    # The lease's flag and the library's event are written together.
    assert ScanJob.objects.filter(library=library, events__kind="watch_partial").exists()
    (root / f"Top.{STAT_ONLY}").write_bytes(b"x")  # the top folder is still watched
    wait_until(lambda: row(library, f"Top.{STAT_ONLY}"), timeout=10, what="a change in the top folder")


def test_the_watch_limit_reached_after_the_watch_began_is_said_and_what_it_misses_is_scanned(make_library,
                                                                                             inotify_limit):
    """Folders created once a watch runs need watches of their own; past the kernel's limit
    watchdog only logs "Unable to watch". The library is then watched in part, says so, and
    what the unwatched folders hold now is scanned."""
    library = make_library()
    root = Path(library.path)
    many_files(root, 20, per_folder=10)
    scanned(library)
    worker, watcher = make_worker(), Watcher(delay=1, label="test")
    try:
        assert ticks_until(watcher, worker, lambda: LibraryWatch.objects.filter(library=library).exists(), 5)
        run_job(ScanJob.objects.get(library=library, trigger="catch_up"))  # the catch-up of a new watch
        inotify_limit(0)  # every watch in use: the next folder cannot be watched
        (root / "New Show").mkdir()
        (root / f"New Show/Episode 1.{STAT_ONLY}").write_bytes(b"x")
        lease = LibraryWatch.objects.filter(library=library, partial=True)
        assert ticks_until(watcher, worker, lease.exists, 10), "the watch says it is partial"
    finally:
        watcher.stop()
    assert "New Show" in lease.get().note and "inotify limit" in lease.get().note
    assert ScanJob.objects.filter(library=library, events__kind="watch_partial").exists()
    job = ScanJob.objects.get(library=library, status="pending")  # what the unwatched folder holds now
    assert job.scope == ["New Show"] and run_job(job).status == "completed"
    assert f"New Show/Episode 1.{STAT_ONLY}" in present_paths(library)


def nest(root: Path, depth: int) -> None:
    """Folders `d/d/d/...` `depth` deep, made one level at a time from the one above."""
    here = os.getcwd()
    try:
        os.chdir(root)
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)


def test_a_folder_too_deep_to_watch_leaves_its_library_watched_in_part_and_the_others_whole(make_library):
    """watchdog walks a library recursively to watch it; a folder nested a thousand levels deep
    ends that walk with a RecursionError. That library is watched in part, says why once, and
    the next library is watched as usual."""
    # Outside pytest's temporary folders: their clean-up (shutil.rmtree) would recurse as deep.
    outside = Path(tempfile.mkdtemp(prefix="mediaserver-deep-"))
    deep, other = make_library("deep", path=outside / "deep"), make_library("other")
    nest(Path(deep.path), 1100)
    for library in (deep, other):
        many_files(Path(library.path), 5)
        scanned(library)
    worker, watcher = make_worker(), Watcher(delay=1, label="test")
    try:
        both = LibraryWatch.objects.filter(library__in=[deep, other])
        assert ticks_until(watcher, worker, lambda: both.count() == 2, 5)
        for _ in range(3):
            watcher.tick(worker)
    finally:
        watcher.stop()
        subprocess.run(["rm", "-rf", str(outside)], check=True)  # rm walks deep trees without recursing
    lease = LibraryWatch.objects.get(library=deep)
    assert lease.partial and "nested too deep" in lease.note
    assert not LibraryWatch.objects.get(library=other).partial
    assert ScanJob.objects.filter(library=deep, events__kind="watch_partial").count() == 1


# ------------------------------------------------------------------ real servers
@pytest.fixture
def servers(tmp_path):
    started: list[Gunicorn] = []

    def start(workers: int = 1, env: dict | None = None) -> Gunicorn:
        server = Gunicorn(tmp_path, workers=workers, env={**FAST, **(env or {})}).start(ready_path="/api/health/")
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def holder(library) -> Worker | None:
    lease = LibraryWatch.objects.filter(library=library).select_related("worker").first()
    return lease.worker if lease else None


@pytest.mark.processes
def test_gunicorn_watches_and_a_sigkilled_watcher_hands_the_watch_over_without_losing_changes(
        servers, make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 100)
    scanned(library)
    servers(workers=2)
    first = wait_until(lambda: holder(library), timeout=20, what="a process to watch")
    wait_until(lambda: settled(library), timeout=20, what="the catch-up scan")

    (root / f"Show 000/New.{STAT_ONLY}").write_bytes(b"new")
    wait_until(lambda: row(library, f"Show 000/New.{STAT_ONLY}"), timeout=10, what="the new file")
    (root / f"Show 001/Episode 002.{STAT_ONLY}").unlink()
    wait_until(lambda: row(library, f"Show 001/Episode 002.{STAT_ONLY}").missing, timeout=10, what="missing")
    moved = row(library, f"Show 001/Episode 003.{STAT_ONLY}")
    os.renames(root / moved.path, root / f"Moved/Episode 003.{STAT_ONLY}")
    wait_until(lambda: MediaFile.objects.get(pk=moved.pk).path == f"Moved/Episode 003.{STAT_ONLY}", timeout=10,
               what="the moved file to keep its row")

    os.kill(first.pid, signal.SIGKILL)
    (root / f"Show 000/While Nobody Watched.{STAT_ONLY}").write_bytes(b"x")  # before anyone takes over
    second = wait_until(lambda: (w := holder(library)) and w.pk != first.pk and w, timeout=30,
                        what="another process to take the watch")
    assert second.pid != first.pid
    wait_until(lambda: row(library, f"Show 000/While Nobody Watched.{STAT_ONLY}"), timeout=20,
               what="the change made while nobody watched")


@pytest.mark.processes
def test_a_change_made_while_the_server_was_stopped_is_caught_when_it_starts(servers, make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 50)
    scanned(library)
    server = servers()
    wait_until(lambda: holder(library), timeout=20, what="the watch")
    wait_until(lambda: settled(library), timeout=20, what="the catch-up scan")
    server.kill(signal.SIGTERM)
    assert not LibraryWatch.objects.exists(), "a clean stop leaves no lease behind"

    (root / f"Show 000/Episode 001.{STAT_ONLY}").unlink()
    (root / f"Show 000/Added While Down.{STAT_ONLY}").write_bytes(b"x")
    servers()

    wait_until(lambda: row(library, f"Show 000/Added While Down.{STAT_ONLY}"), timeout=20, what="the new file")
    wait_until(lambda: row(library, f"Show 000/Episode 001.{STAT_ONLY}").missing, timeout=20, what="missing")


def test_a_full_rescan_killed_past_a_changed_folder_is_followed_by_the_catch_up(servers, make_library):
    """SIGKILL during a full rescan of a watched library that has passed folder A; A changes
    while the server is down; on restart the rescan resumes from its checkpoint (it will not
    walk A again), so the catch-up the new watch owes waits for it and then reads A."""
    library = make_library()
    root = Path(library.path)
    paths = many_files(root, 400, per_folder=20)
    scanned(library)
    gentle = {"SCANNER_MAX_FILES_PER_SECOND": "100"}
    server = servers(env=gentle)
    wait_until(lambda: ScanJob.objects.filter(library=library, trigger="catch_up", status="completed").exists(),
               timeout=30, what="the first catch-up scan")
    status, body = server.api("POST", f"/api/scanner/start/{library.pk}", make_token(), {"mode": "full"})
    assert status == 201, body
    wait_until(lambda: ScanJob.objects.get(pk=body["id"]).checkpoint > "Show 003/", timeout=30, what="past Show 000")
    server.kill(signal.SIGKILL)
    (root / f"Show 000/Added While Down.{STAT_ONLY}").write_bytes(b"x")
    (root / paths[0]).unlink()

    servers(env=gentle)
    wait_until(lambda: row(library, f"Show 000/Added While Down.{STAT_ONLY}") is not None, timeout=60,
               what="the file added while the server was down")
    wait_until(lambda: row(library, paths[0]).missing, timeout=30, what="the file deleted while it was down")
    full = ScanJob.objects.get(pk=body["id"])
    assert (full.status, full.resume_count, full.trigger) == ("completed", 1, "manual")


def make_token() -> str:
    from rest_framework.authtoken.models import Token

    from tests.helpers import make_operator

    return Token.objects.create(user=make_operator("ops")).key
