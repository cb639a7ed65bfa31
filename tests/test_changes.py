"""Change notifications: POST /api/scanner/changes, pending changes, and the scans they become (DESIGN.md 8)."""

from pathlib import Path

import pytest

from scanner.jobs import changes, services
from scanner.models import PendingChange, ScanJob
from tests.helpers import STAT_ONLY, many_files, present_paths, run_job, scan_now

pytestmark = pytest.mark.django_db


def notify(client, *paths):
    return client.post("/api/scanner/changes", {"paths": list(paths)}, format="json")


def queued_job(library) -> ScanJob:
    return ScanJob.objects.get(library=library, status="pending")


def test_a_notified_new_file_is_catalogued_and_a_path_outside_every_library_is_ignored(
        make_library, staff_client, tmp_path):
    library = make_library()
    root = Path(library.path)
    many_files(root, 100)
    scan_now(library)
    new = root / f"Show 001/New Episode.{STAT_ONLY}"
    new.write_bytes(b"new")
    (root / f"Show 000/Episode 001.{STAT_ONLY}").unlink()

    response = notify(staff_client, str(new), f"{root}/Show 000/Episode 001.{STAT_ONLY}", "/srv/elsewhere/x.mkv",
                      "relative/x.mkv")

    assert response.status_code == 202, response.content
    assert response.json() == {
        "queued": [{"library": library.pk, "path": f"Show 001/New Episode.{STAT_ONLY}"},
                   {"library": library.pk, "path": f"Show 000/Episode 001.{STAT_ONLY}"}],
        "ignored": [{"path": "/srv/elsewhere/x.mkv", "reason": "inside no library"},
                    {"path": "relative/x.mkv", "reason": "not an absolute path"}],
    }
    job = queued_job(library)
    assert (job.trigger, job.mode) == ("notify", "quick")
    assert job.scope == [f"Show 000/Episode 001.{STAT_ONLY}", f"Show 001/New Episode.{STAT_ONLY}"]
    assert not PendingChange.objects.exists()  # in the job's scope now, in the same transaction

    done = run_job(job)
    assert (done.files_found, done.files_added, done.files_missing) == (1, 1, 1)
    assert f"Show 001/New Episode.{STAT_ONLY}" in present_paths(library)
    assert f"Show 000/Episode 001.{STAT_ONLY}" not in present_paths(library)
    assert len(present_paths(library)) == 100


def test_changes_wait_while_a_user_paused_scan_holds_them(make_library, staff_client):
    library = make_library()
    root = Path(library.path)
    many_files(root, 10)
    services.scan_start(library_id=library.pk)
    services.scan_pause(library_id=library.pk)

    assert notify(staff_client, f"{root}/Show 000").status_code == 202
    assert notify(staff_client, f"{root}/Show 000/Episode 003.{STAT_ONLY}").status_code == 202
    assert notify(staff_client, f"{root}/Show 000").status_code == 202  # again: still one row
    assert changes.queue_scans_for_changes() == []
    assert PendingChange.objects.filter(library=library).count() == 2  # durable, waiting

    services.scan_cancel(library_id=library.pk)
    (job,) = changes.queue_scans_for_changes()  # what each process's claim loop does
    assert job.scope == ["Show 000"] and job.trigger == "notify"
    # The place inside it waits beside it, read when it completes.
    assert list(PendingChange.objects.values_list("path", flat=True)) == [f"Show 000/Episode 003.{STAT_ONLY}"]
    assert changes.queue_scans_for_changes() == []
    assert run_job(job).status == "completed" and not PendingChange.objects.exists()


def test_too_many_changed_places_or_the_root_become_a_whole_library_scan(make_library, staff_client):
    library, other = make_library(), make_library()
    services.scan_start(library_id=library.pk)  # hold the changes until all are noted
    services.scan_pause(library_id=library.pk)
    notify(staff_client, *(f"{library.path}/folder {i}" for i in range(1001)))
    notify(staff_client, other.path)
    assert list(PendingChange.objects.filter(library=library).values_list("path", flat=True)) == [""]  # one row
    services.scan_cancel(library_id=library.pk)

    (job,) = changes.queue_scans_for_changes()

    assert job.library_id == library.pk and job.scope == []
    queued = job.events.get(kind="queued").message
    assert queued == "Quick scan of the whole library queued for 1 changed path (notify)"
    assert queued_job(other).scope == []  # queued at once: nothing held it


@pytest.mark.parametrize("body, problem", [
    ({}, "required"),
    ({"paths": "/x"}, "Expected a list"),
    ({"paths": []}, "may not be empty"),
    ({"paths": [1, {"a": 2}]}, "Not a valid string"),
])
def test_a_bad_notification_is_a_400(staff_client, body, problem):
    response = staff_client.post("/api/scanner/changes", body, format="json")
    assert response.status_code == 400 and problem in str(response.json())


def test_only_staff_may_notify(make_library, user_client, anon_client):
    library = make_library()
    assert notify(anon_client, library.path).status_code in (401, 403)
    assert notify(user_client, library.path).status_code == 403
    assert not PendingChange.objects.exists()


def test_a_path_through_a_link_to_a_library_is_mapped_to_it(make_library, staff_client, tmp_path):
    library = make_library()
    (Path(library.path) / "Album").mkdir()
    link = tmp_path / "media-link"
    link.symlink_to(library.path)
    response = notify(staff_client, f"{link}/Album", f"{library.path}/../{Path(library.path).name}/Album/x.flac")
    assert response.json()["queued"] == [{"library": library.pk, "path": "Album"},
                                         {"library": library.pk, "path": "Album/x.flac"}]


# ------------------------------------------------------------------ from review: no acknowledged change is dropped
def test_changes_whose_scan_failed_or_was_cancelled_wait_again_and_are_scanned_later(make_library, staff_client):
    from datetime import timedelta

    from django.db.models.functions import Now

    library = make_library()
    root = Path(library.path)
    many_files(root, 10)
    scan_now(library)
    new = root / f"Show 000/New.{STAT_ONLY}"
    new.write_bytes(b"new")
    assert notify(staff_client, str(new)).status_code == 202
    job = queued_job(library)
    root.rename(f"{root}.away")  # an unmounted share: the scan fails
    assert run_job(job).status == "failed"
    Path(f"{root}.away").rename(root)

    waiting = PendingChange.objects.filter(library=library, path=f"Show 000/New.{STAT_ONLY}")
    assert waiting.exists() and waiting.get().failures == 0  # an absent folder is an outage, not a failure
    assert job.events.filter(kind="changes_kept").exists()
    assert changes.queue_scans_for_changes() == []  # not at once: a share still away would fail it in a loop

    waiting.update(created_at=Now() - timedelta(minutes=6))
    (retry,) = changes.queue_scans_for_changes()
    assert retry.scope == [f"Show 000/New.{STAT_ONLY}"] and retry.trigger == "notify"
    services.scan_cancel(library_id=library.pk)  # a user's cancel gives them back too
    assert waiting.exists()
    waiting.update(created_at=Now() - timedelta(minutes=6))
    done = run_job(changes.queue_scans_for_changes()[0])
    assert done.files_added == 1 and f"Show 000/New.{STAT_ONLY}" in present_paths(library)


def test_a_cancelled_manual_scan_gives_back_nothing_it_did_not_hold(make_library):
    library = make_library()
    services.scan_start(library_id=library.pk)
    services.scan_cancel(library_id=library.pk)
    assert not PendingChange.objects.exists()
