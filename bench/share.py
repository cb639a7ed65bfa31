"""The "slow share" figures of one database, printed as JSON: scans of a FUSE mount that adds a
fixed latency to every metadata operation and open (tests/fusefs.py), each compared with a serial
and a 16-thread parallel bare walk of the same mount, in the same run. The stat-only tree is
measured twice: through a share whose listings give each entry's type (d_type), and through one
whose listings give none (NFS with `nordirplus`, several FUSE file systems), where telling a
folder from a file costs a stat per entry. Run by bench/run.py; BENCH_SHARE_TAGGED=0 leaves the
tagged files out (a quick run)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The tag readers are spawned processes, which import this file again as "__mp_main__": they
# must not set Django up (0.5 s each), as a server's readers do not (gunicorn and manage.py
# import nothing at the top of their main module).
if __name__ != "__mp_main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaserver.settings")

    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command

    from bench import trees
    from bench.measure import library_for, reset, scan, serial_walk
    from scanner.core import readers as extraction
    from scanner.engine.run import ScanEngine
    from scanner.jobs import lifecycle, services, workers
    from scanner.models import ScanJob
    from tests.fusefs import mounted

    DEFAULTS = settings.SCANNER

LATENCY = 0.001  # seconds added to every getattr, readdir, open and read
PARALLEL_WALK_THREADS = 16


def parallel_walk(root: Path) -> float:
    """Folders listed and files stat'ed by 16 threads, a level of the tree at a time."""

    def visit(path: str) -> list[str]:
        folders = []
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                else:
                    entry.stat()
        return folders

    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL_WALK_THREADS) as pool:
        level = [str(root)]
        while level:
            level = [folder for folders in pool.map(visit, level) for folder in folders]
    return time.perf_counter() - started


def configure(**changes) -> None:
    settings.SCANNER = dataclasses.replace(settings.SCANNER, **changes)


def paused_and_resumed(library, count: int) -> tuple[float, int]:
    """A first scan paused by its user at about half, then resumed: the time after resuming,
    and the files the resumed run processed."""
    reset(library)
    worker = workers.register("bench")
    job = services.scan_start(library_id=library.pk).job
    stop = threading.Event()

    def pause_at_half() -> None:
        while not stop.is_set():
            if ScanJob.objects.get(pk=job.pk).files_processed >= count // 2:
                services.scan_pause(library_id=library.pk)
                stop.set()
            time.sleep(0.005)

    watcher = threading.Thread(target=pause_at_half)
    watcher.start()
    outcome = ScanEngine(lifecycle.claim(job.pk, worker), config=settings.SCANNER, stop=stop).run()
    watcher.join()
    assert outcome == "stopped", outcome
    before = ScanJob.objects.get(pk=job.pk).files_processed
    services.scan_resume(library_id=library.pk)
    started = time.perf_counter()
    outcome = ScanEngine(lifecycle.claim(job.pk, worker), config=settings.SCANNER, stop=threading.Event()).run()
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    worker.delete()
    assert outcome == "completed" and job.files_processed == count, (outcome, job.status_message)
    return elapsed, count - before


def stat_only_figures(mount: Path, count: int) -> dict:
    serial, parallel = serial_walk(mount), min(parallel_walk(mount) for _ in range(3))
    library = library_for(mount)
    first, job = min(((reset(library), scan(library))[1] for _ in range(2)), key=lambda result: result[0])
    assert job.files_added == count
    rescan, job = min((scan(library) for _ in range(2)), key=lambda result: result[0])
    assert job.files_unchanged == count
    configure(batch_size=100)  # commits often enough to be paused at about half
    resumed, resumed_files = paused_and_resumed(library, count)
    configure(batch_size=DEFAULTS.batch_size)
    return {"files": count, "serial_walk_s": serial, "parallel_walk_s": parallel, "first_scan_s": first,
            "rescan_s": rescan, "resumed_s": resumed, "resumed_files": resumed_files}


def tagged_figures(mount: Path, count: int, *, before: dict) -> dict:
    """The first scan of real tagged files, with the scanner as configured and as it was
    before read-ahead (`before`: serial walk, one tag reader per core)."""
    library = library_for(mount)
    figures = {"files": count}
    for label, changes in (("before", before), ("now", {})):
        configure(**changes)
        extraction.shutdown_pool()
        elapsed, job = (reset(library), scan(library))[1]
        assert job.files_added == count and job.files_failed == 0, job.status_message
        figures[f"{label}_s"] = elapsed
        configure(**{name: getattr(DEFAULTS, name) for name in changes})
    extraction.shutdown_pool()
    return figures


def main() -> None:
    call_command("migrate", verbosity=0)
    count, tagged = int(os.environ.get("BENCH_SHARE_FILES", "2000")), int(os.environ.get("BENCH_SHARE_TAGGED", "1000"))
    stat_source, tag_source = trees.share_tree(count), trees.tagged_tree(tagged) if tagged else None
    figures = {"latency_ms": LATENCY * 1000, "walk_threads": DEFAULTS.walk_threads,
               "metadata_workers": DEFAULTS.metadata_workers}
    with mounted(stat_source, trees.DATA / "mnt-stat", latency=LATENCY) as mount:
        figures["stat"] = stat_only_figures(mount.path, count)
    with mounted(stat_source, trees.DATA / "mnt-stat-untyped", latency=LATENCY, no_dtype=True) as mount:
        figures["stat_untyped"] = stat_only_figures(mount.path, count)
    if tagged:
        with mounted(tag_source, trees.DATA / "mnt-tagged", latency=LATENCY) as mount:
            figures["tagged"] = tagged_figures(mount.path, tagged, before={
                "walk_threads": 0, "metadata_workers": max(1, os.cpu_count() or 1)})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
