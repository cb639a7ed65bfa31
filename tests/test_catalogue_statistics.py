"""A scan that adds many rows refreshes the planner's statistics (PostgreSQL).

While the statistics know a library as empty, PostgreSQL reads each page of a batch's
catalogue range by filtering every row of the library on the (library_id) index, instead of
reading the path range of the unique index: a first scan grows quadratic, and a rescan soon
after costs twice what it should (bench/RESULTS.md). autovacuum fixes the statistics late, or
never when it is off, so the scan runs ANALYZE itself as its inserts pass each doubling.
"""

from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from libraries.models import MediaFile
from scanner.core.entries import FileEntry
from scanner.engine import catalogue, dbtime, facts
from scanner.engine import run as engine
from tests.helpers import many_files, scan_now

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps no planner statistics"),
]


def range_query_plan(library_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id, path FROM libraries_mediafile WHERE library_id = %s AND path > %s AND path <= %s "
            "ORDER BY path LIMIT 5000", [library_id, "Show 010/", "Show 020/"])
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_first_scan_leaves_statistics_that_read_a_range_by_its_paths(make_library, monkeypatch):
    monkeypatch.setattr(engine, "ANALYZE_AFTER", 1000)
    older, new = make_library("older"), make_library("new")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE libraries_mediafile SET (autovacuum_enabled = false)")  # as on some servers
    now = dbtime.db_datetime(timezone.now())
    catalogue.insert_files([catalogue.insert_row(older.pk, FileEntry(f"f{i:05d}.mkv", "video", "mkv", 1, 1),
                                                 facts.NO_FACTS, now=now, job_id=None) for i in range(20_000)])
    catalogue.refresh_statistics()  # they know the older library, not the new one
    assert "mediafile_unique_path_per_library" not in range_query_plan(new.pk)

    many_files(Path(new.path), 3000)
    job = scan_now(new)

    assert (job.status, job.files_added) == ("completed", 3000), job.error_message
    assert MediaFile.objects.filter(library=new).count() == 3000
    assert "Index Cond: ((library_id = " in range_query_plan(new.pk)
    assert "mediafile_unique_path_per_library" in range_query_plan(new.pk)
