"""Peak memory of one first scan in a fresh process: prints {"files", "peak_rss_mb", "baseline_rss_mb"}.

Usage: python bench/rss.py COUNT (with DATABASE_URL set by bench/run.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.measure import call_command, library_for, reset, scan, trees  # sets Django up


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    library = library_for(trees.stat_only_tree(count))
    reset(library)
    baseline = status_kb("VmRSS")
    elapsed, job = scan(library)
    assert job.files_added == count
    print(json.dumps({"files": count, "seconds": elapsed, "baseline_rss_mb": baseline / 1024,
                      "peak_rss_mb": status_kb("VmHWM") / 1024}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
