"""Change-to-catalogue latency with live watching, under a real gunicorn; prints JSON.

A library of `count` stat-only files is scanned once; then a gunicorn watching it (inotify,
SCANNER_WATCH_DELAY=DELAY) takes the watch up and runs its catch-up scan. Then CHANGES
single-file changes are made one by one, each once the one before is in the catalogue: a new
file, an existing file touched (a new mtime), a file moved to another folder (its row must
keep its id). Latency is from just before the write to the moment the catalogue row shows it
(polled every POLL seconds). Work per change is the files the scans it caused walked, against
a whole-library quick rescan (the library's size). The tree is put back as it was at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.measure import call_command, library_for, reset, scan, trees  # first: it sets Django up

# isort: split
from libraries.models import Library, MediaFile
from scanner.models import LibraryWatch, ScanJob
from tests.procs import Gunicorn, wait_until

CHANGES = 100
DELAY = 1.0  # SCANNER_WATCH_DELAY (its minimum): the target is DELAY + 2 s at p99
POLL = 0.02


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    root = trees.watch_tree(count)
    library = library_for(root)
    Library.objects.exclude(pk=library.pk).update(watch=False)  # the other benchmarks' trees: not watched here
    reset(library)
    scan(library)  # the user's first scan: watching never starts one
    var = trees.DATA / "var"
    var.mkdir(parents=True, exist_ok=True)
    server = Gunicorn(var, workers=1, env={"SCANNER_WATCH": "true", "SCANNER_WATCH_DELAY": str(DELAY),
                                           "GUNICORN_ACCESSLOG": ""})
    made: list[Path] = []  # what to put back: new files, and (new, old) paths of moved ones
    moved: list[tuple[Path, Path]] = []
    latencies: dict[str, list[float]] = {"add": [], "modify": [], "move": []}
    try:
        server.start(ready_path="/api/health/")
        wait_until(lambda: LibraryWatch.objects.filter(library=library).exists(), timeout=60, what="the watch")
        wait_until(lambda: ScanJob.objects.filter(library=library, trigger="watch", status="completed").exists(),
                   timeout=120, what="the catch-up scan")
        first_change_job = ScanJob.objects.order_by("-pk").values_list("pk", flat=True).first()
        folders = sorted({p.parent for p in root.glob("Artist 0*/Album */*.mkv")})[:CHANGES]
        for i in range(CHANGES):
            folder = folders[i % len(folders)]
            kind = ("add", "modify", "move")[i % 3]
            if kind == "add":
                path = folder / f"New {i:03d}.mkv"
                started = time.perf_counter()
                path.touch()
                made.append(path)
                rel = str(path.relative_to(root))
                seen = lambda rel=rel: MediaFile.objects.filter(library=library, path=rel).exists()  # noqa: E731
            elif kind == "modify":
                path = next(folder.glob("*.mkv"))
                rel = str(path.relative_to(root))
                mtime = path.stat().st_mtime_ns + 10**9
                started = time.perf_counter()
                os.utime(path, ns=(mtime, mtime))
                seen = lambda rel=rel, mtime=mtime: MediaFile.objects.filter(  # noqa: E731
                    library=library, path=rel, mtime_ns=mtime).exists()
            else:
                path = next(folder.glob("*.mkv"))
                row = MediaFile.objects.get(library=library, path=str(path.relative_to(root)))
                target = folder / "Moved" / path.name
                target.parent.mkdir(exist_ok=True)
                started = time.perf_counter()
                path.rename(target)
                moved.append((target, path))
                rel = str(target.relative_to(root))
                seen = lambda pk=row.pk, rel=rel: MediaFile.objects.filter(pk=pk, path=rel).exists()  # noqa: E731
            wait_until(seen, timeout=60, interval=POLL, what=f"change {i} ({kind}) in the catalogue")
            latencies[kind].append(time.perf_counter() - started)
        wait_until(lambda: not ScanJob.objects.filter(library=library, status__in=ScanJob.OPEN_STATUSES).exists(),
                   timeout=60, what="the last scan to end")
        jobs = ScanJob.objects.filter(library=library, pk__gt=first_change_job)
        walked = sum(job.files_found for job in jobs)
        moves = sum(job.files_moved for job in jobs)
    finally:
        server.stop()
        for path in made:
            path.unlink(missing_ok=True)
        for new, old in moved:
            new.rename(old)
        for folder in root.glob("Artist */Album */Moved"):
            folder.rmdir()
    every = [x for values in latencies.values() for x in values]
    print(json.dumps({
        "files": count, "changes": CHANGES, "delay_s": DELAY, "p50_s": statistics.median(every),
        "p99_s": percentile(every, 99), "max_s": max(every),
        **{f"{kind}_p50_s": statistics.median(values) for kind, values in latencies.items()},
        "scans": jobs.count(), "files_walked_per_change": walked / CHANGES,
        "walked_share_of_rescan": walked / CHANGES / count, "moves_kept": moves,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]))
