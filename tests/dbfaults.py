"""Real database errors of both kinds, raised on this thread's connection (common/dberrors.py).

An outage: SQLite's file locked by another connection; PostgreSQL's backend terminated.
A failure a retry cannot fix: SQLite's "too many SQL variables"; PostgreSQL's statement timeout.
Both need a test with committed transactions (django_db(transaction=True)).
"""

from __future__ import annotations

import sqlite3
import time

import psycopg
from django.db import connection

SQLITE_VARIABLES_PAST_THE_LIMIT = 300_000  # Debian's SQLite allows 250,000


def raise_outage() -> None:
    if connection.vendor == "sqlite":
        other = sqlite3.connect(connection.settings_dict["NAME"])
        other.execute("BEGIN EXCLUSIVE")
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout")
                (busy_timeout,) = cursor.fetchone()
                cursor.execute("PRAGMA busy_timeout = 0")
                try:
                    cursor.execute("UPDATE scanner_worker SET kind = kind")  # database is locked
                finally:
                    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
        finally:
            other.rollback()
            other.close()
    else:
        lose_the_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # terminating connection due to administrator command
    raise AssertionError("no outage happened")


def lose_the_connection() -> None:
    """PostgreSQL: terminate this thread's backend, as a server restart would; the next
    statement on the connection fails. Returns once the backend is gone."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
                         dbname=settings["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(200):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            time.sleep(0.01)
    raise AssertionError("the backend outlived its termination")


def raise_failure() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            count = SQLITE_VARIABLES_PAST_THE_LIMIT
            cursor.execute(f"SELECT 1 WHERE 1 IN ({', '.join(['%s'] * count)})", list(range(count)))
        else:
            cursor.execute("SET statement_timeout = 1")
            try:
                cursor.execute("SELECT pg_sleep(0.2)")  # canceling statement due to statement timeout
            finally:
                cursor.execute("SET statement_timeout = 0")
    raise AssertionError("no failure happened")
