"""The scan engine on the real database and real files (scanner/engine/run.py)."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

import scanner.engine.catalogue as catalogue_writes
from libraries.models import MediaFile
from scanner.core import readers
from scanner.core.walk import Walker
from scanner.engine.commit import Committer
from scanner.engine.run import ScanEngine
from scanner.jobs import lifecycle, services
from scanner.models import ScanEvent, ScanJob
from tests import media
from tests.helpers import (
    build_tree,
    catalogue,
    config,
    make_worker,
    many_files,
    present_paths,
    run_job,
    scan_now,
    unprivileged_filesystem_access,
)
from tests.procs import wait_until

pytestmark = pytest.mark.django_db


def test_first_scan_catalogues_the_ground_truth(make_library):
    library = make_library()
    path = Path(library.path)
    truth = build_tree(path)
    job = scan_now(library, batch_size=5)

    assert job.status == "completed" and job.progress == 100 and job.phase == "done"
    assert (job.files_found, job.files_processed, job.files_added, job.files_failed) == (len(truth),) * 3 + (0,)
    files = catalogue(library)
    assert set(files) == set(truth)
    for rel, expected in truth.items():
        row = files[rel]
        stat = os.stat(path / rel)
        assert (row.size, row.mtime_ns, row.kind, row.missing) == (
            stat.st_size, stat.st_mtime_ns, expected["kind"], False)
        for tag in ("title", "artist", "album", "track", "year"):
            if tag in expected:
                assert getattr(row, tag) == expected[tag], (rel, tag)
    mp3 = files["Artist 0/Album 0/01 Track.mp3"]
    assert (mp3.duration, mp3.bitrate, mp3.sample_rate, mp3.codec) == (1.008, 32000, 32000, "mp3")
    assert files["Films/Big Film (2001)/Big Film.mp4"].duration == 5.0
    assert job.status_message.startswith(f"Scanned {len(truth)} files: {len(truth)} added")


def test_tags_are_read_the_same_in_the_scan_thread(make_library):
    library = make_library()
    truth = build_tree(Path(library.path))
    scan_now(library, metadata_workers=0)
    assert {rel: f.title for rel, f in catalogue(library).items() if f.kind == "audio"} == {
        rel: t["title"] for rel, t in truth.items() if t["kind"] == "audio"
    }


def test_an_unchanged_rescan_writes_nothing_to_the_catalogue(make_library):
    library = make_library()
    root = Path(library.path)
    build_tree(root)
    many_files(root, 1200)
    first = scan_now(library, batch_size=200)
    before = {f.pk: (f.last_seen, f.size) for f in MediaFile.objects.all()}

    with CaptureQueriesContext(connection) as queries:
        again = scan_now(library, batch_size=200)

    writes = [q["sql"] for q in queries
              if "libraries_mediafile" in q["sql"] and not q["sql"].lstrip().startswith("SELECT")]
    assert writes == []
    assert len(queries) < 60, "a rescan must use a few queries per batch, not one per file"
    assert (again.files_unchanged, again.files_added, again.files_updated, again.files_missing) == (
        first.files_added, 0, 0, 0)
    assert {f.pk: (f.last_seen, f.size) for f in MediaFile.objects.all()} == before


def test_modified_deleted_and_added_files_are_all_detected(make_library):
    library = make_library()
    root = Path(library.path)
    truth = build_tree(root)
    scan_now(library, batch_size=4)
    ids_before = {f.path: f.pk for f in MediaFile.objects.all()}

    changed = next(p for p in truth if p.endswith(".wav"))
    media.write_wav(root / changed, seconds=1.5, tags={"title": "Retitled"})
    gone = next(p for p in truth if p.startswith("Artist 2") and p.endswith(".mp3"))
    (root / gone).unlink()
    shutil.rmtree(root / "Photos")
    media.write_flac(root / "Artist 9/New/01 New.flac", tags={"title": "Brand new"})

    job = scan_now(library, batch_size=4)

    assert (job.files_added, job.files_updated, job.files_missing) == (1, 1, 2)
    assert job.files_unchanged == len(truth) - 3
    files = catalogue(library)
    assert files[changed].title == "Retitled" and files[changed].duration == 1.5
    assert files[changed].pk == ids_before[changed]
    assert files[gone].missing and files["Photos/beach.jpg"].missing, "vanished files are kept, flagged missing"
    assert files["Artist 9/New/01 New.flac"].title == "Brand new"
    assert len(files) == len(truth) + 1

    media.write_mp3(root / gone)  # it comes back
    (root / "Photos").mkdir()
    again = scan_now(library)
    assert not catalogue(library)[gone].missing
    # The photo is still gone, but it was found gone by the scan before: not counted again.
    assert again.files_missing == 0 and catalogue(library)["Photos/beach.jpg"].missing


def test_full_mode_rereads_files_whose_size_and_mtime_did_not_change(make_library):
    library = make_library()
    root = Path(library.path)
    track = root / "a.flac"
    media.write_flac(track, tags={"title": "AAAA"})
    scan_now(library)
    stat = os.stat(track)
    media.write_flac(track, tags={"title": "BBBB"})  # same length, so the same size
    os.utime(track, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(track).st_size == stat.st_size

    quick = scan_now(library)
    assert (quick.files_unchanged, catalogue(library)["a.flac"].title) == (1, "AAAA")
    full = scan_now(library, mode="full")
    assert (full.files_updated, catalogue(library)["a.flac"].title) == (1, "BBBB")
    assert scan_now(library, mode="full").files_unchanged == 1


def test_unparseable_and_empty_files_are_catalogued_and_counted_as_failed(make_library):
    library = make_library()
    root = Path(library.path)
    media.write_junk(root / "broken.mp3")
    (root / "empty.flac").write_bytes(b"")
    media.write_mp3(root / "fine.mp3")
    job = scan_now(library)
    assert (job.status, job.files_processed, job.files_failed, job.files_added) == ("completed", 3, 2, 3)
    assert catalogue(library)["empty.flac"].size == 0


def test_a_hostile_tree_completes(make_library, public_tmp):
    root = public_tmp / "library"
    outside = public_tmp / "outside"
    media.write_mp3(root / "ok/a.mp3")
    media.write_mp3(root / "locked/b.mp3")
    media.write_mp3(outside / "c.mp3")
    (root / "locked").chmod(0)
    (root / "ok/loop").symlink_to(root)
    (root / "escape").symlink_to(outside)
    (root / "empty.mp3").write_bytes(b"")
    bad = os.path.join(os.fsencode(root), b"caf\xe9.mp3")
    open(bad, "wb").close()
    library = make_library(path=root)

    with unprivileged_filesystem_access():
        job = scan_now(library)

    assert job.status == "completed", job.error_message
    assert set(catalogue(library)) == {"ok/a.mp3", "empty.mp3"}
    assert (job.files_processed, job.files_found, job.files_failed, job.dirs_failed) == (3, 3, 2, 1)
    assert "1 folder could not be read" in job.status_message
    kinds = set(ScanEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert "folder_unreadable" in kinds


def test_a_missing_root_fails_the_scan_and_marks_nothing_missing(make_library):
    library = make_library()
    root = Path(library.path)
    build_tree(root)
    scan_now(library)
    shutil.rmtree(root)
    job = scan_now(library)
    assert job.status == "failed" and "not available" in job.error_message
    assert "Nothing was marked missing" in job.status_message
    assert not MediaFile.objects.filter(missing=True).exists()


def test_an_empty_mount_point_does_not_mark_the_library_missing(make_library, tmp_path, tmpfs_share):
    root = tmpfs_share.mount(tmp_path / "nas")
    library = make_library(path=root)
    build_tree(root)
    scan_now(library)
    tmpfs_share.unmount()  # the mount point is left, empty, on another device than the files
    job = scan_now(library)
    assert job.status == "failed" and "is the drive mounted" in job.error_message
    assert not MediaFile.objects.filter(missing=True).exists()


def test_a_library_whose_every_file_was_deleted_marks_them_missing(make_library):
    """An empty folder on the device its files were on is not an unmounted share: they are gone."""
    library = make_library()
    root = Path(library.path)
    truth = build_tree(root)
    scan_now(library)
    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    job = scan_now(library)
    assert (job.status, job.files_missing) == ("completed", len(truth)), job.error_message
    assert MediaFile.objects.filter(library=library, missing=False).count() == 0


def test_a_stale_lease_cannot_commit(make_library):
    """Two engines on one job: the one whose lease was superseded writes nothing."""
    library = make_library()
    paths = many_files(Path(library.path), 60)
    job = services.scan_start(library_id=library.pk).job
    old = lifecycle.claim(job.pk, make_worker())
    # The job is taken over (as recovery would after declaring the first owner dead).
    ScanJob.objects.filter(pk=job.pk).update(status="pending")
    new = lifecycle.claim(job.pk, make_worker())
    assert new.lease_token == old.lease_token + 1

    stale = ScanEngine(old, config=config(batch_size=10), stop=threading.Event()).run()
    assert stale == "stopped"
    assert not MediaFile.objects.exists()

    assert ScanEngine(new, config=config(batch_size=10), stop=threading.Event()).run() == "completed"
    job.refresh_from_db()
    assert (job.files_processed, job.files_added) == (60, 60)
    assert sorted(present_paths(library)) == sorted(paths)


def test_a_stop_keeps_committed_batches_and_resume_finishes_exactly(make_library, monkeypatch):
    library = make_library()
    paths = many_files(Path(library.path), 95)
    job = services.scan_start(library_id=library.pk).job
    stop = threading.Event()
    committed = []
    real_insert = catalogue_writes.insert_files

    def stop_after_two_batches(rows, *fields):
        real_insert(rows, *fields)
        if not rows:
            return  # each batch inserts its rows with one call (catalogue.FACT_FIELDS or not)
        committed.append(len(rows))
        if len(committed) == 2:
            stop.set()  # a pause arrives while the engine works: it stops at the next file

    monkeypatch.setattr(catalogue_writes, "insert_files", stop_after_two_batches)
    run_job(job, stop=stop, batch_size=10)
    job.refresh_from_db()
    assert job.status == "running"  # stopping is the thread's part; the service changes the row
    assert job.files_processed == len(present_paths(library)) == 20
    assert job.checkpoint == sorted(paths)[19]

    services.scan_pause(library_id=library.pk)
    resumed = services.scan_resume(library_id=library.pk).job
    assert resumed.pk == job.pk and resumed.resume_count == 1
    done = run_job(resumed, batch_size=10)
    assert (done.status, done.files_processed, done.files_added, done.files_found) == ("completed", 95, 95, 95)
    assert sorted(present_paths(library)) == sorted(paths)


def test_a_resumed_scan_keeps_the_first_count_instead_of_listing_everything_again(make_library, monkeypatch):
    """On a slow share a recount costs a whole listing: the resume keeps the count it had, and
    stays honest (never backwards, never 100 before the end, exact at the end)."""
    library = make_library()
    many_files(Path(library.path), 40)
    job = services.scan_start(library_id=library.pk).job
    stop = threading.Event()
    real_insert = catalogue_writes.insert_files
    monkeypatch.setattr(catalogue_writes, "insert_files",
                        lambda rows, *fields: (real_insert(rows, *fields), rows and stop.set()))
    run_job(job, stop=stop, batch_size=10)
    monkeypatch.undo()
    services.scan_pause(library_id=library.pk)
    many_files(Path(library.path) / "Zz added later", 20)  # after the checkpoint, in walk order
    counted = []
    monkeypatch.setattr(Walker, "count", lambda self, **kw: counted.append(1) or 0)
    resumed = services.scan_resume(library_id=library.pk).job
    progress = []
    real_commit = Committer.commit
    monkeypatch.setattr(Committer, "commit", lambda self, batch, step: (progress.append(step),
                                                                        real_commit(self, batch, step)))
    done = run_job(resumed, batch_size=10)
    assert counted == [], "no second count"
    assert (done.status, done.files_processed, done.files_found, done.progress) == ("completed", 60, 60, 100)
    percents = [step.percent for step in progress]
    assert percents == sorted(percents) and max(percents[:-1]) <= 99.9
    assert [step.found for step in progress[:-1]] == [max(40, step.processed) for step in progress[:-1]]
    assert ScanEvent.objects.filter(job=job, kind="resumed").exists()


def test_the_rate_limit_keeps_scans_gentle(make_library):
    library = make_library()
    many_files(Path(library.path), 30)
    job = scan_now(library, max_files_per_second=100, batch_size=10)
    assert job.status == "completed"
    assert 0 < job.files_per_second <= 110


@pytest.mark.parametrize("error, outcome, message", [
    (RuntimeError("disk controller on fire"), ("failed", None), "unexpected error: disk controller on fire"),
    (OperationalError("server closed the connection"), ("paused", "interrupted"), "database error"),
])
def test_a_crashing_scan_never_leaves_its_job_running(make_library, monkeypatch, error, outcome, message):
    """An error ends the job failed (with the error); a database error pauses it for a retry."""
    library = make_library()
    many_files(Path(library.path), 5)

    def crash(*args, **kwargs):
        raise error

    monkeypatch.setattr("scanner.core.walk.Walker.count", crash)
    job = scan_now(library)
    assert (job.status, job.pause_reason, job.owner) == (*outcome, None)
    assert message in job.status_message


def test_each_scan_leaves_its_story_in_events(make_library):
    library = make_library()
    many_files(Path(library.path), 3)
    job = scan_now(library)
    assert list(ScanEvent.objects.filter(job=job).values_list("kind", flat=True)) == [
        "queued", "claimed", "started", "completed"]
    assert ScanEvent.objects.get(job=job, kind="completed").message == job.status_message


def test_a_library_folder_replaced_by_a_link_is_not_followed(make_library, tmp_path):
    library = make_library()
    root = Path(library.path)
    media.write_mp3(root / "mine.mp3")
    scan_now(library)
    elsewhere = tmp_path / "elsewhere"
    media.write_mp3(elsewhere / "secret.mp3")
    shutil.rmtree(root)
    root.symlink_to(elsewhere)
    job = scan_now(library)
    assert job.status == "failed" and "now a link" in job.error_message
    assert set(catalogue(library)) == {"mine.mp3"} and not MediaFile.objects.filter(missing=True).exists()


def test_a_library_outside_the_media_roots_is_not_scanned(make_library, settings, tmp_path):
    library = make_library()
    media.write_mp3(Path(library.path) / "a.mp3")
    settings.MEDIA_ROOTS = [str(tmp_path / "somewhere-else")]
    job = scan_now(library)
    assert job.status == "failed" and "outside MEDIA_ROOTS" in job.error_message
    assert not MediaFile.objects.exists()


def test_a_file_dated_beyond_2262_is_counted_as_failed_not_a_broken_scan(make_library):
    library = make_library()
    root = Path(library.path)
    media.write_mp3(root / "ok.mp3")
    (root / "future.mkv").write_bytes(b"x")
    year_2300 = 10_413_792_000_000_000_000  # ns; more than a signed 64-bit column holds
    os.utime(root / "future.mkv", ns=(year_2300, year_2300))
    job = scan_now(library)
    assert (job.status, job.files_failed, job.files_added) == ("completed", 1, 1)
    assert set(catalogue(library)) == {"ok.mp3"}


def test_a_full_rescan_that_cannot_read_tags_keeps_the_old_ones(make_library):
    library = make_library()
    track = Path(library.path) / "a.flac"
    media.write_flac(track, tags={"title": "Kept"})
    scan_now(library)
    stat = os.stat(track)
    track.write_bytes(b"\0" * stat.st_size)  # unreadable now, same size and mtime
    os.utime(track, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    job = scan_now(library, mode="full")
    assert (job.files_failed, job.files_unchanged) == (1, 1)
    assert catalogue(library)["a.flac"].title == "Kept"


def test_a_resumed_scan_of_an_empty_mount_point_marks_nothing_missing(make_library, tmp_path, tmpfs_share):
    root = tmpfs_share.mount(tmp_path / "nas")
    library = make_library(path=root)
    paths = sorted(many_files(root, 100))
    scan_now(library)
    job = services.scan_start(library_id=library.pk).job
    ScanJob.objects.filter(pk=job.pk).update(status="paused", pause_reason="interrupted", checkpoint=paths[40],
                                             files_processed=41, files_found=100)
    tmpfs_share.unmount()  # the share is not mounted again yet
    resumed = services.scan_resume(library_id=library.pk).job
    done = run_job(resumed)
    assert done.status == "failed" and "is the drive mounted" in done.error_message
    assert not MediaFile.objects.filter(missing=True).exists()


def test_tags_are_read_even_when_a_tag_reader_process_dies(make_library):
    import signal as signals

    from scanner.core.readers import pool as extraction

    library = make_library()
    truth = build_tree(Path(library.path))
    reads = readers.PendingReads([str(Path(library.path) / next(iter(truth)))], 2)
    reads.results()  # the pool is up
    for process in extraction._pool.processes():
        os.kill(process.pid, signals.SIGKILL)  # as the OOM killer would
    job = scan_now(library, metadata_workers=2, batch_size=4)
    assert job.status == "completed" and job.files_failed == 0
    assert {rel: f.title for rel, f in catalogue(library).items() if f.kind == "audio"} == {
        rel: t["title"] for rel, t in truth.items() if t["kind"] == "audio"
    }
    readers.shutdown_pool()


def test_a_full_rescan_restores_a_returned_file_with_its_old_tags_when_they_cannot_be_read(make_library):
    library = make_library()
    track = Path(library.path) / "a.flac"
    media.write_flac(track, tags={"title": "Kept"})
    media.write_mp3(Path(library.path) / "b.mp3")
    scan_now(library)
    stat = os.stat(track)
    track.unlink()
    assert scan_now(library).files_missing == 1
    track.write_bytes(b"\0" * stat.st_size)  # back, same size and mtime, tags unreadable
    os.utime(track, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    job = scan_now(library, mode="full")
    row = catalogue(library)["a.flac"]
    assert (job.files_failed, job.files_missing, row.missing, row.title) == (1, 0, False, "Kept")


@pytest.mark.timeout(60)
def test_a_tag_read_that_hangs_is_given_up_and_the_scan_completes(make_library, tmp_path, share):
    source = tmp_path / "share"
    for name in ("a", "b", "c"):
        media.write_mp3(source / f"{name}.mp3", tags={"title": name.upper()})
    mount = share(source, hang_read=["b.mp3"])  # a stuck NFS read
    library = make_library(path=mount.path)
    job = scan_now(library, metadata_workers=2, read_timeout=1)
    assert (job.status, job.files_added, job.files_failed) == ("completed", 3, 1)
    assert {rel: f.title for rel, f in catalogue(library).items()} == {"a.mp3": "A", "b.mp3": "", "c.mp3": "C"}


def test_a_file_that_kills_its_reader_fails_alone_and_is_not_read_again(make_library, tmp_path, share):
    """FFmpeg is C: a hostile file can crash the process reading it. The file being read when a
    reader died is counted failed and not read again (not in another reader, not in the scan
    thread); the other files of its chunk are read."""
    import signal as signals

    from scanner.core.readers import pending
    from scanner.core.readers import pool as extraction

    source = tmp_path / "share"
    for name in ("a", "b", "c"):
        media.write_mp3(source / f"{name}.mp3", tags={"title": name.upper()})
    mount = share(source, hang_read=["b.mp3"])  # holds the reader inside b.mp3
    library = make_library(path=mount.path)
    readers.shutdown_pool()

    def crash_the_reader_of_b() -> None:
        def reading_b() -> bool:
            stuck = extraction._pool.hung(0.3) if extraction._pool is not None else None
            return stuck is not None and pending._inflight[stuck[0]][stuck[1]].endswith("b.mp3")

        wait_until(reading_b, timeout=20, what="a reader inside b.mp3")
        for process in extraction._pool.processes():
            os.kill(process.pid, signals.SIGSEGV)  # as a crash in FFmpeg would end it
        mount.set(hang_read=[])  # a second read of b would now succeed: it must not happen

    errors = []
    killer = threading.Thread(target=lambda: errors.append(None) or crash_the_reader_of_b() or errors.pop())
    killer.start()
    job = scan_now(library, metadata_workers=1, read_timeout=60)
    killer.join()
    assert not errors, "the reader of b.mp3 was never seen, so never killed"

    assert (job.status, job.files_added, job.files_failed) == ("completed", 3, 1), job.status_message
    assert {rel: f.title for rel, f in catalogue(library).items()} == {"a.mp3": "A", "b.mp3": "", "c.mp3": "C"}
    readers.shutdown_pool()


def test_tag_readers_start_while_a_first_scan_counts_a_slow_share_and_not_for_an_unchanged_rescan(
    make_library, monkeypatch
):
    """On a slow share a reader's start (a new interpreter) overlaps the count of a first scan;
    an unchanged quick rescan reads no tags, so it starts no process at all."""
    import multiprocessing

    from scanner.core import probe
    from scanner.core.readers import pool as extraction
    from scanner.engine.plan import Planner

    readers.shutdown_pool()
    library = make_library()
    build_tree(Path(library.path))
    monkeypatch.setitem(probe._slow_roots, library.path, True)  # as if the walk had timed a share
    readers_at_first_plan = []
    plan = Planner.plan

    def first_plan(self, run):
        if not readers_at_first_plan:
            readers_at_first_plan.append(len(multiprocessing.active_children()))
        return plan(self, run)

    monkeypatch.setattr(Planner, "plan", first_plan)
    first = scan_now(library, metadata_workers=2, walk_threads=4)
    assert (first.status, first.files_failed) == ("completed", 0)
    assert readers_at_first_plan[0] >= 1  # spawned during the count, before any batch was planned

    readers.shutdown_pool()
    readers_at_first_plan.clear()
    rescan = scan_now(library, metadata_workers=2, walk_threads=4)
    assert rescan.files_unchanged == rescan.files_processed > 0
    assert readers_at_first_plan == [0] and extraction._pool is None
