"""Numbers in words the way pages and messages show them: "1 file", "20,000 files", "2:01:09".

Plain Python (the scan's own messages are built in scanner/core and scanner/engine too), so
every message and page says a count the same way.
"""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 file', '0 files', '20,000 files': thousands separated, the plural only where it applies."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def hms(seconds: float | None) -> str:
    """A duration as h:mm:ss ("0:03:25", "2:01:09"), to the nearest second; "" for none."""
    if seconds is None:
        return ""
    minutes, second = divmod(int(seconds + 0.5), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


def ago(seconds: float) -> str:
    """How long ago, as a glance wants it: "just now", "2 min ago", "3 h ago", "1 day ago"."""
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{count(round(seconds / 86400), 'day')} ago"
