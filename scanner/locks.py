"""One process at a time for duties every process runs (sweeps, schedules, pruning).

On PostgreSQL, `pg_try_advisory_xact_lock` inside the caller's transaction: whoever gets it
does the duty, the others skip it this time. SQLite serialises writers anyway (BEGIN
IMMEDIATE), so there the lock always succeeds. Correctness never depends on it: every change
the duties make is a compare-and-set or guarded by a database constraint.
"""

from __future__ import annotations

import zlib

from django.db import connection


def try_shared_lock(name: str) -> bool:
    """Take the duty's lock for the current transaction; False if another process holds it."""
    if connection.vendor != "postgresql":
        return True
    assert connection.in_atomic_block, "an advisory transaction lock needs a transaction"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [zlib.crc32(f"mediaserver:{name}".encode())])
        return bool(cursor.fetchone()[0])
