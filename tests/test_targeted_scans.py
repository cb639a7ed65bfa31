"""Targeted scans (a library's paths only) and moved files keeping their identity (DESIGN.md 8)."""

import os
import shutil
import threading
from pathlib import Path

import pytest

import scanner.engine.catalogue as catalogue_writes
from libraries.models import MediaFile
from scanner.jobs import services
from scanner.models import ScanJob
from tests.helpers import STAT_ONLY, catalogue, many_files, present_paths, run_job, scan_now

pytestmark = pytest.mark.django_db


def targeted(library, paths, **config_changes) -> ScanJob:
    job = services.scan_start(library_id=library.pk, paths=paths).job
    return run_job(job, **config_changes)


def touch(path: Path, content: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_a_targeted_scan_touches_nothing_outside_its_scope(make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 200)  # Show 000 .. Show 003, 50 files each
    touch(root / f"Show 000 extra/a.{STAT_ONLY}")
    touch(root / f"Loose.{STAT_ONLY}")
    scan_now(library)
    before = catalogue(library)

    # Outside the scope: a deleted file, a changed one, a new one, a deleted folder.
    (root / f"Show 000/Episode 001.{STAT_ONLY}").unlink()
    touch(root / f"Show 000/Episode 002.{STAT_ONLY}", b"changed outside")
    touch(root / f"Show 000/New.{STAT_ONLY}")
    shutil.rmtree(root / "Show 000 extra")
    # Inside it: the same, and a scope folder that vanished.
    (root / f"Show 001/Episode 001.{STAT_ONLY}").unlink()
    touch(root / f"Show 001/Episode 002.{STAT_ONLY}", b"changed inside")
    touch(root / f"Show 001/Deeper/New.{STAT_ONLY}")
    shutil.rmtree(root / "Show 003")
    (root / f"Loose.{STAT_ONLY}").unlink()

    job = targeted(library, ["Show 001", "Show 003", f"Loose.{STAT_ONLY}"], batch_size=7)

    assert job.status == "completed" and job.scope == ["Loose.heic", "Show 001", "Show 003"]
    assert (job.files_found, job.files_added, job.files_updated, job.files_missing) == (50, 1, 1, 52)
    files = catalogue(library)
    assert not files[f"Show 000/Episode 001.{STAT_ONLY}"].missing  # deleted, but outside the scope
    assert files[f"Show 000/Episode 002.{STAT_ONLY}"].size == before[f"Show 000/Episode 002.{STAT_ONLY}"].size
    assert f"Show 000/New.{STAT_ONLY}" not in files
    assert not files[f"Show 000 extra/a.{STAT_ONLY}"].missing
    assert files[f"Show 001/Episode 001.{STAT_ONLY}"].missing
    assert files[f"Show 001/Episode 002.{STAT_ONLY}"].size == len(b"changed inside")
    assert not files[f"Show 001/Deeper/New.{STAT_ONLY}"].missing
    assert all(row.missing for path, row in files.items() if path.startswith("Show 003/"))
    assert files[f"Loose.{STAT_ONLY}"].missing
    untouched = {p for p in before if p.startswith(("Show 000", "Show 002"))}
    assert all(files[p].last_job_id == before[p].last_job_id for p in untouched)


def test_rows_between_two_scope_paths_are_never_marked_missing(make_library):
    """Unseen rows of two scope paths are two ranges: one would cover the rows between them."""
    library = make_library()
    root = Path(library.path)
    for rel in ("a/1", "a b/1", "a!/1", "b/1", "c/1"):
        touch(root / f"{rel}.{STAT_ONLY}")
    scan_now(library)
    for rel in ("a/1", "a b/1", "a!/1", "b/1", "c/1"):
        (root / f"{rel}.{STAT_ONLY}").unlink()

    job = targeted(library, ["c", "a"])

    assert job.files_missing == 2
    assert present_paths(library) == {f"a b/1.{STAT_ONLY}", f"a!/1.{STAT_ONLY}", f"b/1.{STAT_ONLY}"}


def test_a_targeted_scan_resumes_from_its_checkpoint(make_library, monkeypatch):
    library = make_library()
    root = Path(library.path)
    many_files(root, 150)
    job = services.scan_start(library_id=library.pk, paths=["Show 002", "Show 000"]).job
    stop = threading.Event()
    real_insert = catalogue_writes.insert_files

    def stop_after_a_batch(rows, *fields):
        real_insert(rows, *fields)
        if rows:
            stop.set()

    monkeypatch.setattr(catalogue_writes, "insert_files", stop_after_a_batch)
    run_job(job, stop=stop, batch_size=30)
    job.refresh_from_db()
    assert job.files_processed == 30 and job.checkpoint == f"Show 000/Episode 029.{STAT_ONLY}"
    monkeypatch.undo()

    services.scan_pause(library_id=library.pk)
    resumed = services.scan_resume(library_id=library.pk).job
    done = run_job(resumed, batch_size=30)

    assert (done.status, done.files_processed, done.files_added, done.files_found) == ("completed", 100, 100, 100)
    assert {p.split("/")[0] for p in present_paths(library)} == {"Show 000", "Show 002"}


@pytest.mark.parametrize("paths, problem", [
    (["../elsewhere"], "'..'"),
    (["/etc/passwd"], "not inside the library folder"),
    ([""], "may not be blank"),
    ([], "may not be empty"),
    (["a"] * 1001, "no more than 1000 elements"),
    ("Films", "Expected a list"),
])
def test_bad_scope_paths_are_a_400_naming_the_problem(make_library, staff_client, paths, problem):
    library = make_library()
    response = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": paths}, format="json")
    assert response.status_code == 400, response.content
    assert problem in str(response.json())
    assert not ScanJob.objects.filter(library=library).exists()


def test_scope_paths_are_made_relative_collapsed_and_sorted(make_library, staff_client):
    library = make_library()
    (Path(library.path) / "Artist/Album/CD1").mkdir(parents=True)  # paths that are nowhere are a 400
    (Path(library.path) / "Films").mkdir()
    (Path(library.path) / "Films/x.mkv").touch()
    body = {"paths": ["Films/x.mkv", f"{library.path}/Artist/Album/", "Artist/Album/CD1", "Artist/Album"]}
    response = staff_client.post(f"/api/scanner/start/{library.pk}", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["scope"] == ["Artist/Album", "Films/x.mkv"]
    assert response.json()["trigger"] == "manual" and response.json()["files_moved"] == 0

    services.scan_cancel(library_id=library.pk)
    response = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": ["a", library.path]}, format="json")
    assert response.status_code == 201 and response.json()["scope"] == []  # the root: the whole library


# ------------------------------------------------------------------ moves
def test_a_moved_file_and_a_renamed_one_keep_their_rows_and_a_copy_does_not(make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 20)
    scan_now(library)
    moved, renamed, copied = (MediaFile.objects.get(library=library, path=f"Show 000/Episode {n}.{STAT_ONLY}")
                              for n in ("004", "003", "005"))
    MediaFile.objects.filter(pk=moved.pk).update(title="Pilot")  # what was read of it stays with it
    os.renames(root / moved.path, root / f"Moved/Episode 004.{STAT_ONLY}")  # the same name: moved
    os.renames(root / renamed.path, root / f"Moved/Pilot.{STAT_ONLY}")  # a new name, the same inode: renamed
    shutil.copy2(root / copied.path, root / f"Moved/Copy.{STAT_ONLY}")  # the same mtime, a new inode and name
    (root / copied.path).unlink()

    job = scan_now(library)

    assert (job.files_moved, job.files_added, job.files_missing) == (2, 1, 1), job.status_message
    assert "2 moved" in job.status_message
    row = MediaFile.objects.get(pk=moved.pk)
    assert (row.path, row.missing, row.title, row.first_seen) == (
        f"Moved/Episode 004.{STAT_ONLY}", False, "Pilot", moved.first_seen)
    assert row.last_job_id == job.pk
    assert MediaFile.objects.get(pk=renamed.pk).path == f"Moved/Pilot.{STAT_ONLY}"
    assert MediaFile.objects.get(pk=copied.pk).missing
    assert not MediaFile.objects.get(library=library, path=f"Moved/Copy.{STAT_ONLY}").missing
    assert MediaFile.objects.filter(library=library).count() == 21


def test_a_file_moved_across_two_scope_paths_keeps_its_id_but_a_copy_does_not(make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 100)
    scan_now(library)
    old = MediaFile.objects.get(library=library, path=f"Show 000/Episode 010.{STAT_ONLY}")
    os.renames(root / old.path, root / f"Show 001/Specials/Episode 010.{STAT_ONLY}")
    # A copy has a new mtime: the original, deleted, is missing; the copy is a new file.
    copied = MediaFile.objects.get(library=library, path=f"Show 000/Episode 011.{STAT_ONLY}")
    shutil.copy(root / copied.path, root / f"Show 001/Specials/Episode 011.{STAT_ONLY}")
    os.utime(root / f"Show 001/Specials/Episode 011.{STAT_ONLY}", ns=(1, copied.mtime_ns + 10**9))
    (root / copied.path).unlink()

    job = targeted(library, ["Show 001", "Show 000"], batch_size=10)

    assert (job.files_moved, job.files_added, job.files_missing) == (1, 1, 1)
    assert MediaFile.objects.get(pk=old.pk).path == f"Show 001/Specials/Episode 010.{STAT_ONLY}"
    assert MediaFile.objects.get(pk=copied.pk).missing
    assert present_paths(library) >= {f"Show 001/Specials/Episode 011.{STAT_ONLY}"}


def test_two_files_of_one_name_size_and_mtime_are_not_paired_as_moves(make_library):
    """From review: two albums' 01.mp3 with one size and mtime, both moved: a wrong pair would
    swap their tags, so neither is taken for a move, not even by inode (a copy made with its
    times may reuse the inode of a file deleted next to it)."""
    from tests import media

    library = make_library()
    root = Path(library.path)
    for album, title in (("A", "Song A"), ("B", "Song B")):
        media.write_mp3(root / album / "01.mp3", tags={"title": title, "artist": "X", "album": album})
        os.utime(root / album / "01.mp3", ns=(10**18, 10**18))
    assert (root / "A/01.mp3").stat().st_size == (root / "B/01.mp3").stat().st_size
    scan_now(library)
    (root / "Z").mkdir()
    shutil.copy2(root / "A/01.mp3", root / "Z/01.mp3")  # the mtime kept, a new inode
    shutil.rmtree(root / "A")
    (root / "C").mkdir()
    shutil.copy2(root / "B/01.mp3", root / "C/01.mp3")  # may take A's freed inode
    shutil.rmtree(root / "B")

    job = scan_now(library)

    assert (job.files_moved, job.files_added, job.files_missing) == (0, 2, 2)
    titles = dict(MediaFile.objects.filter(library=library, missing=False).values_list("path", "title"))
    assert titles == {"Z/01.mp3": "Song A", "C/01.mp3": "Song B"}  # read again from each file


def test_paths_asked_for_while_a_targeted_scan_is_paused_wait_for_it(make_library, staff_client):
    from scanner.models import PendingChange

    library = make_library()
    many_files(Path(library.path), 100)  # Show 000 and Show 001
    services.scan_start(library_id=library.pk, paths=["Show 000"])
    services.scan_pause(library_id=library.pk)
    response = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": ["Show 001"]}, format="json")
    assert response.status_code == 200 and response.json()["scope"] == ["Show 000"]  # the paused one, resumed
    assert list(PendingChange.objects.values_list("path", "trigger")) == [("Show 001", "notify")]
