"""Ground-truth media trees and ways to run scans in tests."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models.functions import Now

from libraries.models import Library, MediaFile
from scanner.core import procinfo
from scanner.engine.run import ScanEngine
from scanner.jobs import lifecycle, services
from scanner.models import ScanJob, Worker
from tests import media

NOBODY = 65534
# Photos no reader opens (Pillow has no HEIC decoder, scanner/core/readers/dispatch.py): files a scan only
# stats, for tests about the walk and the lifecycle rather than what files hold.
STAT_ONLY = "heic"


def build_tree(root: Path, *, albums: int = 3, tracks: int = 4) -> dict[str, dict]:
    """A small music/film library of real files; returns {relative path: expected fields}."""
    truth: dict[str, dict] = {}
    writers = [media.write_mp3, media.write_flac, media.write_wav, media.write_mp4]
    for a in range(albums):
        for t in range(tracks):
            writer = writers[(a + t) % len(writers)]
            ext = {"write_mp3": "mp3", "write_flac": "flac", "write_wav": "wav", "write_mp4": "m4a"}[writer.__name__]
            rel = f"Artist {a}/Album {a}/{t + 1:02d} Track.{ext}"
            tags = {"title": f"Track {t + 1}", "artist": f"Artist {a}", "album": f"Album {a}", "track": t + 1,
                    "year": 2000 + a}
            writer(root / rel, tags=tags)
            truth[rel] = {"kind": "audio", **tags}
    media.write_video(root / "Films/Big Film (2001)/Big Film.mp4", frames=50)
    truth["Films/Big Film (2001)/Big Film.mp4"] = {"kind": "video"}
    media.write_video(root / "Films/Other.mkv", audio=("eng",))
    truth["Films/Other.mkv"] = {"kind": "video"}
    media.write_photo(root / "Photos/beach.jpg")
    truth["Photos/beach.jpg"] = {"kind": "image"}
    (root / "notes.txt").write_text("not media")
    (root / ".hidden").mkdir(exist_ok=True)
    media.write_mp3(root / ".hidden/secret.mp3")
    (root / "@eaDir").mkdir(exist_ok=True)
    media.write_mp3(root / "@eaDir/thumb.mp3")
    return truth


def many_files(root: Path, count: int, *, per_folder: int = 50) -> list[str]:
    """`count` stat-only media files (STAT_ONLY: never opened) in folders of `per_folder`."""
    paths = []
    for i in range(count):
        rel = f"Show {i // per_folder:03d}/Episode {i % per_folder:03d}.{STAT_ONLY}"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (i % 7))
        paths.append(rel)
    return paths


def catalogue(library: Library) -> dict[str, MediaFile]:
    return {f.path: f for f in MediaFile.objects.filter(library=library)}


def present_paths(library: Library) -> set[str]:
    return set(MediaFile.objects.filter(library=library, missing=False).values_list("path", flat=True))


def config(**changes):
    return dataclasses.replace(settings.SCANNER, **changes)


# What a staff user needs to manage libraries and scans (the admin and the API ask the same).
OPERATOR_PERMISSIONS = ["add_library", "change_library", "delete_library", "view_library", "change_scanjob",
                        "view_scanjob"]


def make_operator(username: str, **fields):
    """A staff user with the permissions to change libraries and control scans."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username, is_staff=True, **fields)
    user.user_permissions.set(Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    return user


def api_client(user):
    """A DRF test client that authenticates as `user` with a token (anonymous for None)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def make_worker() -> Worker:
    return Worker.objects.create(hostname="test-host", pid=os.getpid())


def local_worker(pid: int, started: int | None = None) -> Worker:
    """A worker row of a process on this host, judged by its pid."""
    return Worker.objects.create(hostname=procinfo.hostname(), pid_namespace=procinfo.pid_namespace(), pid=pid,
                                 process_started=procinfo.process_start_ticks(pid) if started is None else started)


def remote_worker(seconds_silent: float) -> Worker:
    """A worker row of a process on another host, judged by its heartbeat."""
    worker = Worker.objects.create(hostname="nas-2", pid_namespace="other-boot/4026531836", pid=4242, process_started=1)
    Worker.objects.filter(pk=worker.pk).update(heartbeat_at=Now() - timedelta(seconds=seconds_silent))
    return worker


def running_job(library: Library, owner: Worker, **fields) -> ScanJob:
    return ScanJob.objects.create(library=library, status="running", owner=owner.pk, worker_name=owner.label,
                                  lease_token=3, files_found=5000, **fields)


def fresh(job: ScanJob) -> ScanJob:
    job.refresh_from_db()
    return job


def scan_now(library: Library, *, mode: str = "quick", **config_changes) -> ScanJob:
    """Queue, claim and run one scan in this thread, as a server thread would."""
    action = services.scan_start(library_id=library.pk, mode=mode)
    return run_job(action.job, **config_changes)


def run_job(job: ScanJob, *, stop: threading.Event | None = None, **config_changes) -> ScanJob:
    worker = make_worker()
    lease = lifecycle.claim(job.pk, worker)
    assert lease is not None, "job was not claimable"
    ScanEngine(lease, config=config(**config_changes), stop=stop or threading.Event(), worker_label=worker.label).run()
    job.refresh_from_db()
    return job


_libc = ctypes.CDLL(None, use_errno=True)


@contextmanager
def unprivileged_filesystem_access():
    """For this thread only, check file permissions as user 'nobody' (tests run as root,
    and root reads a mode-000 folder anyway). setfsuid is per thread; the database
    connection, already open, is unaffected."""
    previous = _libc.setfsuid(NOBODY)
    try:
        yield
    finally:
        _libc.setfsuid(previous)


def at_once(call, times: int) -> list:
    """Run `call` in `times` threads released together; each result, or the exception it raised."""
    from django.db import connection

    barrier = threading.Barrier(times)
    results: list = []

    def run():
        barrier.wait()
        try:
            results.append(call())
        except Exception as exc:
            results.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
