"""One process at a time for duties every process runs (sweeps, schedules, pruning).

On PostgreSQL an advisory lock: whoever gets it does the duty, the others skip it this time.
SQLite serialises writers anyway (BEGIN IMMEDIATE), so there the lock always succeeds.
Correctness never depends on it: every change the duties make is a compare-and-set or guarded
by a database constraint; the lock only saves the others the work.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection


def _key(name: str) -> int:
    return zlib.crc32(f"mediaserver:{name}".encode())


def try_shared_lock(name: str) -> bool:
    """Take the duty's lock for the current transaction; False if another process holds it."""
    if connection.vendor != "postgresql":
        return True
    assert connection.in_atomic_block, "an advisory transaction lock needs a transaction"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_key(name)])
        return bool(cursor.fetchone()[0])


def wait_for_lock(name: str) -> None:
    """Wait for the named lock, held until the current transaction ends. On SQLite the
    transaction's BEGIN IMMEDIATE already holds the database's one write lock."""
    assert connection.in_atomic_block, "an advisory transaction lock needs a transaction"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_key(name)])


@contextmanager
def shared_duty(name: str) -> Iterator[bool]:
    """The duty's lock for a block of several transactions (a session lock); yields whether
    this process holds it."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_key(name)])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_key(name)])
            except DatabaseError:
                pass  # the connection is gone, and the session's lock with it
