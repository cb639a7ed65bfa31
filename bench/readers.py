"""The reader figures of `make bench` alone (tags, videos, photos against their readers on all
cores), on SQLite, for a change to the readers that need not re-run the whole bench:

    .venv/bin/python bench/readers.py [REPEATS]

Prints one JSON line; the trees are bench/trees.py's, as `make bench` makes them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
os.environ.update(MEDIASERVER_VAR_DIR=str(DATA / "var"), DJANGO_LOG_LEVEL="WARNING",
                  DATABASE_URL=f"sqlite:///{DATA / 'readers.sqlite3'}")
if __name__ == "__main__":  # not in the reader processes, which run this module again (spawn)
    for leftover in DATA.glob("readers.sqlite3*"):
        leftover.unlink()
sys.path.insert(0, str(ROOT))

from bench import measure, trees  # noqa: E402  (measure sets Django up)


def main() -> None:
    measure.call_command("migrate", verbosity=0)
    figures = {}
    for name, tree, count in (("tags", trees.tagged_tree, 2000), ("videos", trees.video_tree, 1000),
                              ("photos", trees.photo_tree, 1000)):
        runs = [measure.reader_figures(tree(count)) for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 1)]
        figures[name] = max(runs, key=lambda run: run["throughput_ratio"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
