"""The stat-only figures of `make bench` alone (first scan, rescan and 1% changed of 100k empty
files), on SQLite, for a change that must not slow them:

    .venv/bin/python bench/stat_only.py [CHECKOUT]
    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/stat_only.py [CHECKOUT]

CHECKOUT: another copy of the code to measure (an older commit unpacked with `git archive`), on
this checkout's trees. BENCH_DATABASE_URL: an empty PostgreSQL database to measure instead of
SQLite (its tables are dropped first). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DATA = HERE / "bench" / "data"
CODE = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE
DATABASE = os.environ.get("BENCH_DATABASE_URL", "")
os.environ.update(MEDIASERVER_VAR_DIR=str(DATA / "var"), DJANGO_LOG_LEVEL="ERROR",
                  DATABASE_URL=DATABASE or f"sqlite:///{DATA / 'stat.sqlite3'}")
if __name__ == "__main__":  # not in reader processes, which run this module again (spawn)
    for leftover in DATA.glob("stat.sqlite3*"):
        leftover.unlink()
sys.path.insert(0, str(CODE))

from bench import measure, trees  # noqa: E402  (measure sets Django up)

trees.DATA = DATA


def main() -> None:
    if DATABASE:  # a fresh schema, as the SQLite file is: the two checkouts' migrations may differ
        with measure.connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    measure.call_command("migrate", verbosity=0)
    print(json.dumps(measure.stat_only_figures(int(os.environ.get("BENCH_SIZE", "100000")))))


if __name__ == "__main__":
    main()
