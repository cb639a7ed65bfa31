"""Catalogue rows written in bulk (scanner/engine/catalogue.py, bulkrows.py) read back as they were
made, whatever their paths hold, on the real database (COPY on PostgreSQL; on SQLite, the values
every row shares are literals in the statement, the others parameters)."""

import json
from pathlib import Path

import pytest
from django.utils import timezone

from libraries.models import MediaFile
from scanner.core.entries import FileEntry
from scanner.engine import bulkrows, catalogue, dbtime, facts
from tests.helpers import scan_now

pytestmark = pytest.mark.django_db

# Each a character COPY's text format escapes, or one SQL or Django's placeholders give meaning to.
AWKWARD = ["tab\there.mkv", "new\nline.mkv", "carriage\rreturn.mkv", "back\\slash\\N.mkv", "quote's.mkv",
           "per%cent %s %%s.mkv", "semi; DROP TABLE x;--.mkv", "ünïcödé 日本.mkv", "\\N", "plain.mkv"]


def stored(library) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in MediaFile.objects.filter(library=library).values_list(
        "path", "size", "mtime_ns", "inode", "device", "kind", "extension", "missing", "last_job_id", "first_seen",
        "title", "duration", "streams")}


@pytest.mark.parametrize("basic", [True, False])
def test_awkward_paths_and_values_read_back_as_written(make_library, basic):
    library = make_library()
    now = timezone.now().replace(microsecond=123456)
    entries = [FileEntry(path, "video", "mkv", size=i * 10**12, mtime_ns=-(i * 10**17) if i % 2 else 2**62 + i,
                         inode=None if i % 3 == 0 else 2**60 + i, device=7)
               for i, path in enumerate(AWKWARD)]
    if basic:
        rows = [catalogue.basic_insert_row(library.pk, entry, now=dbtime.db_datetime(now), job_id=None)
                for entry in entries]
        catalogue.insert_files(rows, catalogue.BASIC_FIELDS)
    else:  # full rows: facts every row shares, a float and text with quotes, tabs and '%s' among them
        meta = facts.complete_facts({"title": "a\tb\\c 'd' %s", "duration": 1.5, "streams": [{"codec": "h264"}]})
        rows = [catalogue.insert_row(library.pk, entry, facts.stored_facts(meta), now=dbtime.db_datetime(now),
                                     job_id=None) for entry in entries]
        catalogue.insert_files(rows)

    got = stored(library)
    assert sorted(got) == sorted(AWKWARD)
    for entry in entries:
        size, mtime_ns, inode, device, kind, extension, missing, job, first_seen, title, duration, streams = got[
            entry.path]
        assert (size, mtime_ns, inode, device, kind, extension) == (entry.size, entry.mtime_ns, entry.inode, 7, "video",
                                                                    "mkv"), entry.path
        assert (missing, job, first_seen) == (False, None, now)
        if isinstance(streams, str):
            streams = json.loads(streams)
        assert (title, duration, streams) == (("", None, []) if basic else ("a\tb\\c 'd' %s", 1.5, [{"codec": "h264"}]))


def test_only_values_every_row_shares_exactly_become_literals():
    assert bulkrows.shared_literals([(1, "a", None, True, "x"), (1, "b", None, True, "x")])[0] == {
        0: "1", 2: "NULL", 3: "1", 4: "'x'"}
    assert bulkrows.shared_literals([(True,), (1,)])[0] == {}  # True equals 1, but they are not one value
    assert bulkrows.shared_literals([(2**63,), (2**63,)])[0] == {}  # SQLite would make it a float
    assert bulkrows.shared_literals([(1, "a")])[0] == {}  # a single row: its path stays a parameter
    assert bulkrows.sqlite_literal("it's 100%s") == "'it''s 100%%s'"
    assert bulkrows.sqlite_literal("a tag\x00with a NUL") is None  # a statement's text cannot hold it


def test_a_first_scan_of_awkward_names_then_a_rescan_finds_them_unchanged(make_library):
    library = make_library()
    names = [name for name in AWKWARD if name.endswith(".mkv")]
    for name in names:
        (Path(library.path) / name).write_bytes(b"")

    first = scan_now(library)
    again = scan_now(library)

    assert (first.status, first.files_added) == ("completed", len(names)), first.error_message
    assert sorted(stored(library)) == sorted(names)
    assert (again.files_unchanged, again.files_added, again.files_updated) == (len(names), 0, 0)
