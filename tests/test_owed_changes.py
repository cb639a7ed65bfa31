"""A change the server accepted is owed until a scan has read it (DESIGN.md 8, issue 22).

Each test replays a sequence that used to lose a change: a resume that rewrote the job's trigger,
a paused or resumed whole-library scan already past the changed place, a catch-up dropped by a
failure after the watch began, a scan of changes failing forever, a library folder that is away,
a folder the scan could not read.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.models.functions import Now
from django.test import Client
from django.utils import timezone

from libraries.models import Library, MediaFile
from scanner.jobs import changes, lifecycle, pending, services
from scanner.jobs.recovery import recover_scans
from scanner.models import LibraryWatch, PendingChange, ScanEvent, ScanJob
from scanner.runtime.watching import Watcher
from tests.helpers import (
    STAT_ONLY,
    config,
    fresh,
    local_worker,
    make_operator,
    make_worker,
    many_files,
    present_paths,
    run_job,
    scan_now,
    unprivileged_filesystem_access,
)

pytestmark = pytest.mark.django_db(transaction=True)


def pending_paths(library) -> set[str]:
    return set(PendingChange.objects.filter(library=library).values_list("path", flat=True))


def age(library) -> None:
    """As if the delay of every pending change of the library had passed."""
    PendingChange.objects.filter(library=library).update(created_at=Now() - timedelta(hours=2))


def notified_job(library, rels: list[str]) -> ScanJob:
    noted = changes.note_changes([f"{library.path}/{rel}" for rel in rels])
    assert [q["path"] for q in noted.queued] == rels
    return ScanJob.objects.get(library=library, status="pending")


# ---------------------------------------------------------------- a: a resumed job keeps what it owes
def test_a_scan_of_changes_resumed_by_itself_then_cancelled_gives_them_back(make_library, dead_pid):
    library = make_library()
    many_files(Path(library.path), 40)
    scan_now(library)
    job = notified_job(library, ["Show 000", "Show 001"])
    lease = lifecycle.claim(job.pk, local_worker(dead_pid))  # its server dies a few files in
    ScanJob.objects.filter(pk=job.pk).update(files_processed=3, checkpoint="Show 000/Episode 002.heic")

    recover_scans(config=config(worker_timeout=3600))
    resumed = fresh(job)
    # Resumed whatever its progress (its changes were promised a scan), and still a notify scan.
    assert (resumed.status, resumed.trigger, resumed.resume_count) == ("pending", "notify", 1)
    assert lease is not None and ScanEvent.objects.filter(job=job, kind="auto_resumed").exists()

    services.scan_cancel(library_id=library.pk)
    assert pending_paths(library) == {"Show 000", "Show 001"}
    assert set(PendingChange.objects.values_list("trigger", flat=True)) == {"notify"}


def test_a_scan_of_changes_that_fails_gives_them_back_counted_and_stops_after_the_limit(make_library, settings,
                                                                                        monkeypatch):
    settings.SCANNER = dataclasses.replace(settings.SCANNER, changes_max_attempts=2)
    library = make_library()
    root = Path(library.path)
    many_files(root, 20)
    scan_now(library)
    (root / f"Show 000/New.{STAT_ONLY}").write_bytes(b"new")
    job = notified_job(library, ["Show 000"])
    with monkeypatch.context() as patch:
        patch.setattr("scanner.core.walk.Walker.count", lambda *args, **kwargs: 1 / 0)  # a bug: fails every time
        assert run_job(job).status == "failed"
        (kept,) = PendingChange.objects.filter(library=library)
        assert (kept.path, kept.failures) == ("Show 000", 1) and "ZeroDivisionError" in kept.reason
        assert changes.queue_scans_for_changes() == []  # not at once again
        age(library)
        (again,) = changes.queue_scans_for_changes()
        assert (again.trigger, again.change_failures) == ("notify", 1)
        assert run_job(again).status == "failed"

    # Two failures in a row: they wait for a person, and say so.
    age(library)
    assert changes.queue_scans_for_changes() == []
    assert ScanEvent.objects.filter(job=again, kind="changes_gave_up").exists()
    client = Client()
    client.force_login(make_operator("ops"))
    body = client.get(f"/api/libraries/{library.pk}/").json()
    assert body["changes_waiting"] == 1
    page = client.get("/").content.decode()
    assert "1 stopped after repeated failures and wait for a person" in page

    # A person retries them (the admin's action), and the scan reads them.
    from scanner.jobs import pending

    pending.retry(PendingChange.objects.filter(library=library))
    (retry,) = changes.queue_scans_for_changes()
    assert run_job(retry).status == "completed"
    assert f"Show 000/New.{STAT_ONLY}" in present_paths(library) and not pending_paths(library)


# ---------------------------------------------------------------- f: an absent folder is an outage
def test_changes_of_a_library_whose_folder_is_away_wait_for_it_without_failing(make_library):
    library = make_library()
    root = Path(library.path)
    many_files(root, 20)
    scan_now(library)
    away = root.with_name(root.name + "-unmounted")
    root.rename(away)
    changes.note_changes([f"{root}/Show 000"])  # the share is away: no scan can read it now

    assert not ScanJob.objects.filter(library=library, status__in=["pending", "failed"]).exists()
    (waiting,) = PendingChange.objects.filter(library=library)
    assert waiting.failures == 0 and "not available" in waiting.reason
    age(library)
    assert changes.queue_scans_for_changes() == []  # still away: still waiting, no failed scan
    assert not ScanJob.objects.filter(library=library, status="failed").exists()

    away.rename(root)
    (root / f"Show 000/Back.{STAT_ONLY}").write_bytes(b"x")
    age(library)
    (job,) = changes.queue_scans_for_changes()
    assert run_job(job).status == "completed" and f"Show 000/Back.{STAT_ONLY}" in present_paths(library)


# ---------------------------------------------------------------- b: "an open scan covers it" only ahead of it
def test_a_targeted_start_during_a_paused_whole_scan_past_its_paths_leaves_them_pending(make_library):
    library = make_library()
    root = Path(library.path)
    paths = sorted(many_files(root, 100, per_folder=10))
    scan_now(library)
    job = services.scan_start(library_id=library.pk).job
    checkpoint = paths[60]  # past Show 000, before the last folders
    ScanJob.objects.filter(pk=job.pk).update(status="paused", pause_reason="user", checkpoint=checkpoint,
                                             files_processed=61, files_found=100)
    (root / f"Show 000/New.{STAT_ONLY}").write_bytes(b"x")
    last = paths[-1].split("/")[0]

    action = services.scan_start(library_id=library.pk, paths=["Show 000", last])
    assert action.job.pk == job.pk and not action.created  # the paused scan goes on
    assert pending_paths(library) == {"Show 000"}  # it walks the last folder, not the first
    run_job(fresh(job))
    (later,) = changes.queue_scans_for_changes()
    assert later.scope == ["Show 000"] and run_job(later).status == "completed"
    assert f"Show 000/New.{STAT_ONLY}" in present_paths(library)


def test_the_catch_up_of_a_new_watch_waits_for_an_open_whole_scan_already_past_the_change(make_library):
    library = make_library()
    root = Path(library.path)
    paths = sorted(many_files(root, 100))
    scan_now(library)
    job = services.scan_start(library_id=library.pk, mode="full").job
    ScanJob.objects.filter(pk=job.pk).update(status="paused", pause_reason="interrupted", checkpoint=paths[60],
                                             files_processed=61, files_found=100, resumes_automatically=True,
                                             paused_at=Now())
    # While no server ran: a file added and one deleted in a folder the scan has passed.
    (root / f"Show 000/Added While Down.{STAT_ONLY}").write_bytes(b"x")
    (root / paths[0]).unlink()

    worker, watcher = make_worker(), Watcher(delay=1, label="test")
    try:
        watcher.tick(worker)
        assert LibraryWatch.objects.filter(library=library, worker=worker).exists()
    finally:
        watcher.stop()
    assert pending_paths(library) == {""}  # the whole library is owed a look, behind the open scan

    recover_scans(config=config())
    assert run_job(fresh(job)).status == "completed"
    (catch_up,) = changes.queue_scans_for_changes()
    assert (catch_up.trigger, catch_up.scope) == ("catch_up", [])
    assert run_job(catch_up).status == "completed"
    assert f"Show 000/Added While Down.{STAT_ONLY}" in present_paths(library)
    assert MediaFile.objects.get(library=library, path=paths[0]).missing


# ---------------------------------------------------------------- e: the catch-up is recorded with the lease
def test_the_catch_up_a_watch_owes_survives_a_failure_right_after_the_watch_began(make_library, monkeypatch):
    library = make_library()
    many_files(Path(library.path), 10)
    scan_now(library)
    worker, watcher = make_worker(), Watcher(delay=1, label="test")

    def locked(**kwargs):
        raise OperationalError("database is locked")

    try:
        with monkeypatch.context() as patch:
            patch.setattr(lifecycle, "queue", locked)
            with pytest.raises(OperationalError):
                watcher.tick(worker)  # the duty logs it and runs again later
        assert LibraryWatch.objects.filter(library=library, worker=worker).exists()
        assert pending_paths(library) == {""}
        watcher.tick(worker)  # the lease is held: it is not taken again, and nothing more is owed
    finally:
        watcher.stop()
    (catch_up,) = changes.queue_scans_for_changes()
    assert catch_up.trigger == "catch_up" and catch_up.scope == []


# ---------------------------------------------------------------- g: through a link, where its walk sees it
def test_a_path_through_a_link_into_another_library_is_noted_where_it_is_walked(make_library, tmp_path):
    music, films = make_library(path=tmp_path / "music"), make_library(path=tmp_path / "films")
    (Path(films.path) / "Show 000").mkdir()
    (Path(music.path) / "to-films").symlink_to(Path(films.path))  # the music walk never follows it
    (Path(music.path) / "inside").symlink_to(Path(music.path) / "real")  # this one it does
    (Path(music.path) / "real").mkdir()

    noted = changes.note_changes([f"{music.path}/to-films/Show 000/x.mkv", f"{music.path}/inside/y.mp3",
                                  f"{music.path}/to-nowhere/z.mp3"])
    assert noted.queued == [{"library": films.pk, "path": "Show 000/x.mkv"},
                            {"library": music.pk, "path": "inside/y.mp3"},
                            {"library": music.pk, "path": "to-nowhere/z.mp3"}]
    (Path(music.path) / "out").symlink_to(tmp_path)
    assert changes.note_changes([f"{music.path}/out/elsewhere.mp3"]).ignored[0]["reason"].startswith(
        "it leads through a link out of its library")


# ---------------------------------------------------------------- i: one clock
def test_a_host_whose_clock_is_behind_the_database_does_not_rescan_back_to_back(make_library, monkeypatch):
    from django.utils import timezone

    from scanner.jobs.schedule import queue_due_scans

    library = make_library(scan_interval=timedelta(minutes=30))
    many_files(Path(library.path), 5)
    host_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: host_now() - timedelta(hours=2))  # this host's clock

    (first,) = queue_due_scans()
    assert run_job(ScanJob.objects.get(pk=first)).status == "completed"
    assert queue_due_scans() == []  # due in 30 minutes by the database's clock, not at once


# ---------------------------------------------------------------- visible state
def test_the_library_api_counts_its_changes_waiting(make_library, staff_client):
    library = make_library()
    services.scan_start(library_id=library.pk)  # an open scan: the changes wait for it
    changes.note_changes([f"{library.path}/a.mkv", f"{library.path}/b.mkv"])
    body = staff_client.get(f"/api/libraries/{library.pk}/").json()
    assert body["changes_waiting"] == 2
    listed = staff_client.get("/api/libraries/").json()["results"]
    assert [row["changes_waiting"] for row in listed if row["id"] == library.pk] == [2]
    assert Library.objects.get(pk=library.pk)


# ---------------------------------------------------------------- bounds (issue 23, 5)
def test_paths_no_file_system_can_hold_are_ignored_with_the_reason(make_library, staff_client):
    library = make_library()
    long_name, too_deep = "n" * 300, "/".join(["folder"] * 450)  # a name over 255 bytes; a path over 2,000
    response = staff_client.post("/api/scanner/changes", {"paths": [
        f"{library.path}/{long_name}.mkv", f"{library.path}/{too_deep}/x.mkv", f"{library.path}/{'a' * 5000}",
        f"{library.path}/fine.mkv"]}, format="json")
    assert response.status_code == 202, response.content[:300]
    reasons = [item["reason"] for item in response.json()["ignored"]]
    assert reasons[0].startswith("longer than a file system allows") and reasons[2] == reasons[0]
    assert reasons[1] == "path is too long to catalogue"
    assert response.json()["queued"] == [{"library": library.pk, "path": "fine.mkv"}]


def test_a_flood_of_changes_becomes_one_change_of_the_whole_library(make_library, staff_client):
    library = make_library()
    services.scan_start(library_id=library.pk)
    services.scan_pause(library_id=library.pk)  # a paused scan holds them: they pile up
    for batch in range(3):
        paths = [f"{library.path}/Show {batch}/{n:04d}.mkv" for n in range(600)]
        assert staff_client.post("/api/scanner/changes", {"paths": paths}, format="json").status_code == 202
    # What more than 1,000 places would become anyway: the whole library, with the places noted
    # since (up to the bound again).
    waiting = pending_paths(library)
    assert "" in waiting and len(waiting) <= pending.MAX_PER_LIBRARY + 1
    services.scan_cancel(library_id=library.pk)
    (job,) = changes.queue_scans_for_changes()
    assert job.scope == []


def test_an_answer_carries_a_bounded_summary_of_a_scope(make_library, staff_client):
    library = make_library()
    folders = [f"{'Folder with a rather long name ' * 40}{n:04d}" for n in range(1000)]
    now = timezone.now()  # names too long for a disk: catalogued, they are places a scan may mark missing
    MediaFile.objects.bulk_create([MediaFile(library=library, path=f"{folder}/a.mkv", size=1, mtime_ns=1, kind="video",
                                             extension="mkv", first_seen=now, last_seen=now) for folder in folders])
    response = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": folders}, format="json")
    assert response.status_code == 201 and ScanJob.objects.get(pk=response.json()["id"]).scope == sorted(folders)
    status = staff_client.get(f"/api/scanner/status/{library.pk}")
    job = status.json()["job"]
    assert (len(job["scope"]), job["scope_count"]) == (20, 1000) and len(status.content) < 40_000


def test_notifications_are_rate_limited_per_user(make_library, staff_client, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    assert ScopedRateThrottle.THROTTLE_RATES["changes"] == "600/min"  # what the README says
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "changes": "3/min"})
    library = make_library()
    answers = [staff_client.post("/api/scanner/changes", {"paths": [f"{library.path}/a.mkv"]}, format="json")
               for _ in range(4)]
    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]


# ---------------------------------------------------------------- g: a folder the scan could not read
def locked_library(make_library, public_tmp, folder: str = "Locked"):
    """A catalogued library with a folder that its scans will not be able to read, and a new file in it."""
    root = public_tmp / "library"
    for rel in (f"{folder}/a", "Open/b"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / f"{rel}.{STAT_ONLY}").write_bytes(b"x")
    library = make_library(path=root)
    scan_now(library)
    (root / f"{folder}/New.{STAT_ONLY}").write_bytes(b"new")
    return library, root


def test_a_whole_library_scan_that_could_not_read_a_folder_keeps_the_changes_noted_there(make_library,
                                                                                          public_tmp):
    library, root = locked_library(make_library, public_tmp)
    services.scan_cancel(library_id=notified_job(library, ["Locked", "Open"]).library_id)
    assert pending_paths(library) == {"Locked", "Open"}  # given back, waiting a few minutes
    whole = services.scan_start(library_id=library.pk).job  # a person's full scan, queued after them
    (root / "Locked").chmod(0o000)
    with unprivileged_filesystem_access():
        assert run_job(whole).status == "completed"

    (kept,) = PendingChange.objects.filter(library=library)  # "Open" was read; "Locked" was not
    assert (kept.path, kept.failures) == ("Locked", 1)
    assert kept.reason == "its folder Locked/ could not be read: Permission denied"
    assert ScanEvent.objects.filter(job=whole, kind="changes_kept").exists()
    (root / "Locked").chmod(0o755)
    age(library)
    (later,) = changes.queue_scans_for_changes()
    assert later.scope == ["Locked"] and run_job(later).status == "completed"
    assert f"Locked/New.{STAT_ONLY}" in present_paths(library) and not pending_paths(library)


def test_a_scan_of_changes_that_could_not_read_their_folder_gives_them_back_as_failed(make_library, public_tmp,
                                                                                      settings):
    settings.SCANNER = dataclasses.replace(settings.SCANNER, changes_max_attempts=2)
    library, root = locked_library(make_library, public_tmp)
    (root / "Locked").chmod(0o000)
    for attempt in (1, 2):
        age(library)
        job = notified_job(library, ["Locked", "Open"]) if attempt == 1 else changes.queue_scans_for_changes()[0]
        with unprivileged_filesystem_access():
            assert run_job(job).status == "completed"
        (kept,) = PendingChange.objects.filter(library=library)
        assert (kept.path, kept.failures) == ("Locked", attempt)

    # A folder that stays unreadable waits for a person, who is told.
    age(library)
    assert changes.queue_scans_for_changes() == []
    assert ScanEvent.objects.filter(job=job, kind="changes_gave_up").exists()
    assert f"Locked/New.{STAT_ONLY}" not in present_paths(library)


def test_a_persons_targeted_scan_of_an_unreadable_folder_owes_nothing(make_library, public_tmp):
    library, root = locked_library(make_library, public_tmp)
    job = services.scan_start(library_id=library.pk, paths=["Locked"]).job
    (root / "Locked").chmod(0o000)
    with unprivileged_filesystem_access():
        assert run_job(job).status == "completed"
    assert ScanEvent.objects.filter(job=job, kind="folder_unreadable").exists() and not pending_paths(library)


def test_a_place_noted_beside_a_change_of_the_whole_library_is_kept_if_its_folder_could_not_be_read(
        make_library, public_tmp):
    library, root = locked_library(make_library, public_tmp)
    pending.note(library.pk, [""], trigger="catch_up")  # a watch taken up owes the whole library
    whole = notified_job(library, ["Locked"])
    assert whole.scope == [] and whole.from_changes
    (root / "Locked").chmod(0o000)
    with unprivileged_filesystem_access():
        assert run_job(whole).status == "completed"
    (kept,) = PendingChange.objects.filter(library=library)
    assert (kept.path, kept.failures) == ("Locked", 1)


def test_a_cancelled_scan_of_the_whole_library_keeps_the_places_noted_beside_it_waiting_too(make_library,
                                                                                           public_tmp):
    library, _ = locked_library(make_library, public_tmp)
    pending.note(library.pk, [""], trigger="catch_up")
    notified_job(library, ["Locked"])
    services.scan_cancel(library_id=library.pk)
    assert pending_paths(library) == {"", "Locked"}
    assert changes.queue_scans_for_changes() == []  # a cancel is not undone at once


def test_a_place_inside_a_scanned_place_is_kept_if_its_folder_could_not_be_read(make_library, public_tmp):
    library, root = locked_library(make_library, public_tmp, folder="Shows/Locked")
    job = notified_job(library, ["Shows", "Shows/Locked"])
    assert job.scope == ["Shows"] and pending_paths(library) == {"Shows/Locked"}  # waits beside it
    (root / "Shows/Locked").chmod(0o000)
    with unprivileged_filesystem_access():
        assert run_job(job).status == "completed"
    assert pending_paths(library) == {"Shows/Locked"}

    (root / "Shows/Locked").chmod(0o755)
    age(library)
    (later,) = changes.queue_scans_for_changes()
    assert run_job(later).status == "completed" and not pending_paths(library)
    assert f"Shows/Locked/New.{STAT_ONLY}" in present_paths(library)


def test_places_noted_before_an_open_scan_of_the_whole_library_are_not_counted_as_waiting(make_library,
                                                                                          public_tmp, staff_client):
    library, _ = locked_library(make_library, public_tmp)
    pending.note(library.pk, [""], trigger="catch_up")
    whole = notified_job(library, ["Locked", "Open"])
    assert whole.scope == [] and pending_paths(library) == {"Locked", "Open"}
    assert staff_client.get(f"/api/libraries/{library.pk}/").json()["changes_waiting"] == 0
    pending.note(library.pk, ["Open"], trigger="watch")  # noted again while it waits: a newer change
    assert staff_client.get(f"/api/libraries/{library.pk}/").json()["changes_waiting"] == 1
