"""An error is never an absence (DESIGN.md 3.6): what the walk could not stat, enter or type keeps
its catalogue rows, is counted and reported; only a listing that succeeded marks files missing."""

import pytest

from scanner.models import ScanEvent
from tests import media
from tests.helpers import present_paths, scan_now, unprivileged_filesystem_access

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("mode, dirs_failed, files_failed", [
    (0o000, 1, 0),  # the folder cannot be listed
    (0o644, 1, 1),  # listed, but neither its file nor its sub-folder can be stat'ed
])
def test_what_a_locked_folder_holds_keeps_its_rows(make_library, public_tmp, mode, dirs_failed, files_failed):
    root = public_tmp / "library"
    media.write_mp3(root / "locked/a.mp3")
    media.write_mp3(root / "locked/sub/c.mp3")
    media.write_mp3(root / "open/b.mp3")
    library = make_library(path=root)
    scan_now(library)
    (root / "locked").chmod(mode)
    with unprivileged_filesystem_access():
        job = scan_now(library)
    assert (job.status, job.files_missing) == ("completed", 0)
    assert (job.dirs_failed, job.files_failed) == (dirs_failed, files_failed)
    assert present_paths(library) == {"locked/a.mp3", "locked/sub/c.mp3", "open/b.mp3"}
    assert ScanEvent.objects.filter(job=job, kind="folder_unreadable").count() == dirs_failed


def scanned_share(make_library, tmp_path, share, *paths):
    """A library of small files on the FUSE share (no faults yet), scanned once."""
    for rel in paths:
        (tmp_path / "share" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "share" / rel).write_bytes(b"x" * 10)
    mount = share(tmp_path / "share")
    library = make_library(path=mount.path)
    assert scan_now(library).files_added == len(paths)
    return mount, library


@pytest.mark.parametrize("faults, dirs_failed, files_failed", [
    ({"eio_getattr": ["Music/Album"]}, 1, 0),  # a sub-folder listed, whose stat fails
    ({"no_dtype": True, "eio_getattr": ["Music/Album"]}, 1, 0),  # a folder whose type cannot be told
    ({"no_dtype": True, "eio_getattr": ["Films/a.mkv"]}, 0, 1),  # a media file whose type cannot be told
    ({"eio_readdir": ["Music"]}, 1, 0),  # a folder that cannot be listed
])
def test_entries_a_share_cannot_stat_keep_their_rows(make_library, tmp_path, share, faults, dirs_failed,
                                                     files_failed):
    mount, library = scanned_share(make_library, tmp_path, share,
                                   "Films/a.mkv", "Films/b.mkv", "Music/Album/01.mkv", "Music/Album/02.mkv",
                                   "Music/c.mkv")
    everything = present_paths(library)

    mount.set(**faults)
    job = scan_now(library)

    assert (job.status, job.files_missing) == ("completed", 0), job.status_message
    assert (job.dirs_failed, job.files_failed) == (dirs_failed, files_failed)
    assert present_paths(library) == everything


def test_names_a_share_lists_but_cannot_look_up_keep_their_rows(make_library, tmp_path, share):
    """ENOENT from a stat is not proof that a file is gone: only its folder, listed again, is."""
    mount, library = scanned_share(make_library, tmp_path, share, "a.mkv", "Album/01.mkv", "Album/02.mkv", "b.mkv",
                                   "c.mkv")
    mount.set(enoent_getattr=["Album", "b.mkv"])
    job = scan_now(library)
    assert (job.status, job.files_missing, job.dirs_failed, job.files_failed) == ("completed", 0, 1, 1)
    assert len(present_paths(library)) == 5

    (tmp_path / "share/b.mkv").unlink()  # really gone now: the listing no longer has it
    mount.set(enoent_getattr=[])
    assert scan_now(library).files_missing == 1


def test_a_folder_whose_type_cannot_be_told_keeps_its_rows_when_a_batch_ends_before_it(make_library, tmp_path,
                                                                                      share):
    """Its error is reported where the folder lies in the walk, so it belongs to the batch whose
    path range holds its rows, wherever batches are cut."""
    mount, library = scanned_share(make_library, tmp_path, share, "Music/a.mkv", "Music/b/01.mkv", "Music/b/02.mkv",
                                   "Music/c.mkv")
    mount.set(no_dtype=True, eio_getattr=["Music/b"])
    job = scan_now(library, batch_size=1)  # a batch ends at Music/a.mkv, just before the folder
    assert (job.status, job.files_missing, job.dirs_failed) == ("completed", 0, 1)
    assert len(present_paths(library)) == 4
