"""Cleaning what media files say about themselves into what the catalogue stores. No Django here."""

from __future__ import annotations

import re

TEXT_LIMIT = 500  # characters kept of a tag (the catalogue column size)
_FIRST_NUMBER = re.compile(r"\d+")


def text(value, limit: int = TEXT_LIMIT) -> str:
    if value is None:
        return ""
    # PostgreSQL text cannot hold NUL, and broken encodings may leave lone surrogates.
    return str(value).replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()[:limit]


def number(value, *, limit: int) -> int | None:
    """The first number in a tag ("3/12" is 3), if it is 1 to `limit`."""
    match = _FIRST_NUMBER.search(text(value))
    if not match:
        return None
    found = int(match.group())
    return found if 0 < found <= limit else None


def positive(value) -> int | None:
    """A positive integer that fits the catalogue's 32-bit columns, else None."""
    try:
        found = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return found if 0 < found < 2**31 else None


def seconds(value) -> float | None:
    try:
        found = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return round(found, 3) if 0 < found < 10**9 else None  # NaN and infinities fail both tests


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
