"""One database's benchmark figures, printed as JSON. Run by bench/run.py in a fresh process
per database (settings are read at start); see bench/RESULTS.md for what each figure means."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaserver.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench import trees  # noqa: E402
from libraries.models import Library, MediaFile  # noqa: E402
from scanner.conf import scanner_config  # noqa: E402
from scanner.core import readers as extraction  # noqa: E402
from scanner.core.readers.dispatch import read_many  # noqa: E402
from scanner.engine.run import ScanEngine  # noqa: E402
from scanner.jobs import lifecycle, services, workers  # noqa: E402
from scanner.models import ScanJob  # noqa: E402
from scanner.runtime.entrypoints import freeze_startup_objects  # noqa: E402

REPEATS = 3  # every figure is the best of this many runs

# As every scanning process does when its runtime starts (scan threads run in a server, a
# `manage.py scanworker` or `manage.py scan`): the engine runs here without that runtime.
freeze_startup_objects()


def serial_walk(root: Path) -> float:
    """One bare walk: os.scandir of every folder and a stat of every file, nothing else."""
    started = time.perf_counter()
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat()
    return time.perf_counter() - started


def bare_walk(root: Path) -> float:
    """The floor: the fastest of REPEATS bare walks."""
    return min(serial_walk(root) for _ in range(REPEATS))


def library_for(root: Path) -> Library:
    library, _ = Library.objects.get_or_create(path=str(root), defaults={"name": root.name})
    return library


def scan(library: Library, mode: str = "quick") -> tuple[float, ScanJob]:
    """Queue, claim and run one scan in this thread, as a server's scan thread does."""
    worker = workers.register("bench")
    job = services.scan_start(library_id=library.pk, mode=mode).job
    lease = lifecycle.claim(job.pk, worker)
    started = time.perf_counter()
    outcome = ScanEngine(lease, config=scanner_config(), stop=threading.Event(), worker_label=worker.label).run()
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    worker.delete()
    assert outcome == "completed", (outcome, job.error_message)
    return elapsed, job


def reset(library: Library) -> None:
    MediaFile.objects.filter(library=library).delete()
    ScanJob.objects.filter(library=library).delete()
    if connection.vendor == "postgresql":
        # What autovacuum would do (it is off on some servers, this one included): a first
        # scan into 100k dead rows, again and again, measures the bloat, not the scanner.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {MediaFile._meta.db_table}")


def forget(root: str) -> None:
    """Before a first scan by `manage.py scan` (bench/run.py)."""
    reset(Library.objects.get(path=root))


def best_of(run) -> tuple[float, ScanJob]:
    """The fastest of REPEATS runs, as for the bare walk: the machine's other work only slows."""
    return min((run() for _ in range(REPEATS)), key=lambda result: result[0])


def stat_only_figures(count: int) -> dict:
    root = trees.stat_only_tree(count)
    library = library_for(root)
    walk = bare_walk(root)
    first, job = best_of(lambda: (reset(library), scan(library))[1])
    assert job.files_added == count
    rescan, job = best_of(lambda: scan(library))
    assert job.files_unchanged == count
    changed = count // 100
    walk_after = bare_walk(root)
    partial, job = best_of(lambda: (trees.change_one_percent(root, count), scan(library))[1])
    assert job.files_updated == changed, job.status_message
    return {
        "files": count, "bare_walk_s": walk, "first_scan_s": first, "first_scan_files_per_s": count / first,
        "first_scan_ratio": first / walk, "rescan_s": rescan, "rescan_ratio": rescan / walk,
        "changed_files": changed, "rescan_1pct_s": partial, "rescan_1pct_ratio": partial / walk_after,
    }


def reader_figures(root: Path) -> dict:
    """A first scan of real files against their readers alone (mutagen, PyAV or Pillow, through
    scanner.core.readers.dispatch.read_many) over the same files on all cores."""
    paths = sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    workers = scanner_config().metadata_workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(read_many, [paths[:8]] * workers))  # start every worker before timing
        chunk = max(8, len(paths) // (workers * 4))
        alone = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            results = [r for part in pool.map(read_many, [paths[i:i + chunk] for i in range(0, len(paths), chunk)])
                       for r in part]
            alone = min(alone, time.perf_counter() - started)
    assert len(results) == len(paths) and not any(error for _, error in results)
    extraction.PendingReads(paths[:workers * 8], workers).results()  # the scanner's pool, warm as in a server
    library = library_for(root)
    pipeline, job = best_of(lambda: (reset(library), scan(library))[1])
    assert job.files_added == len(paths) and job.files_failed == 0
    extraction.shutdown_pool()
    return {"files": len(paths), "workers": workers, "alone_s": alone, "scan_s": pipeline,
            "throughput_ratio": alone / pipeline}


def main() -> None:
    call_command("migrate", verbosity=0)
    figures = {"vendor": connection.vendor, "database_version": _database_version()}
    for count in json.loads(os.environ.get("BENCH_SIZES", "[10000, 100000]")):
        figures[f"stat_{count}"] = stat_only_figures(count)
    figures["tags"] = reader_figures(trees.tagged_tree(int(os.environ.get("BENCH_TAGGED", "2000"))))
    figures["videos"] = reader_figures(trees.video_tree(int(os.environ.get("BENCH_VIDEOS", "1000"))))
    figures["photos"] = reader_figures(trees.photo_tree(int(os.environ.get("BENCH_PHOTOS", "1000"))))
    print(json.dumps(figures))


def _database_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
