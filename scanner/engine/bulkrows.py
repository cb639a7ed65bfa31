"""SQLite's bulk inserts (scanner/engine/catalogue.py), with what the rows share written once.

A first scan's rows share most of their values (the library, the job, the time, the columns a
file with nothing read leaves empty): only the path and the stat differ from row to row. The
driver binding each of them, row by row, was 40% of SQLite's insert time; so a column every row
holds the same simple value of goes into the statement once, as a literal (bench/NOTES.md).
PostgreSQL's COPY gains nothing from the same: its server, not psycopg's formatting, is the
bottleneck there (the client formats while the server inserts).
"""

from __future__ import annotations

from collections.abc import Sequence

INT64 = 2**63  # SQLite's integers; a literal beyond would turn into a float, where a parameter is refused


def sqlite_literal(value: object) -> str | None:
    """A value as an SQL literal in a statement Django's SQLite cursor will run ('%' doubled, as
    its placeholder conversion reads '%s' as a parameter and '%%' as '%'); None for a value that
    stays a parameter."""
    if value is None:
        return "NULL"
    if type(value) is bool:
        return "1" if value else "0"
    if type(value) is int:
        return str(value) if -INT64 <= value < INT64 else None
    if type(value) is str and "\x00" not in value:  # the statement's text cannot hold a NUL; a parameter can
        return "'" + value.replace("'", "''").replace("%", "%%") + "'"
    return None


def shared_literals(rows: Sequence[tuple]) -> tuple[dict[int, str], list[tuple]]:
    """The columns every row holds the same value in, as {index: literal}, and the rows' values
    by column. Of one type exactly: True equals 1, and the literal is written from the first row."""
    by_column = list(zip(*rows, strict=True))
    shared: dict[int, str] = {}
    if len(rows) < 2:
        return shared, by_column  # nothing to gain, and a lone row's path stays a parameter
    for index, values in enumerate(by_column):
        first = values[0]
        kind = type(first)
        if values.count(first) != len(values) or kind in (int, bool) and set(map(type, values)) != {kind}:
            continue
        if (literal := sqlite_literal(first)) is not None:
            shared[index] = literal
    return shared, by_column


def sqlite_statement(table: str, fields: Sequence[str], rows: Sequence[tuple]) -> tuple[str, list[tuple]]:
    """An INSERT of `fields` with the shared values as literals, and each row's other values."""
    shared, by_column = shared_literals(rows)
    values = ", ".join(shared.get(index, "%s") for index in range(len(fields)))
    varying = [by_column[index] for index in range(len(fields)) if index not in shared]
    params = list(zip(*varying, strict=True)) if varying else [()] * len(rows)
    return f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({values})", params
