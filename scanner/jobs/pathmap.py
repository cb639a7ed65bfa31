"""SCANNER_PATH_MAP (DESIGN.md 10): the paths a notifier sees, rewritten to the paths this server sees.

Sonarr in a container sees the library as /tv where this server sees /srv/media/tv. Every
notified path goes through `map_path` before it is looked up in the libraries. A path that is
then inside no library is never silently dropped: the answer says so (where the format has a
body), and the log says so at most once a minute per process, with the mapping that would
have put it in a library when one can be guessed from the folders' names.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from scanner.conf import PathMap
from scanner.jobs.events import log_decision

LOG_EVERY = 60.0  # seconds: at most one log line about unmapped paths per process in this time
GUESSES_PER_CALL = 20  # paths of one notification whose mapping is guessed (each guess stats a few names)

_lock = threading.Lock()
_last_logged = -LOG_EVERY  # time.monotonic() of the last line
_unlogged = 0  # unmapped paths seen since the last line


def map_path(raw: str, path_map: PathMap) -> str:
    """`raw` with its longest mapped prefix (a whole folder name, never part of one) replaced by
    its target; unchanged when no prefix applies or it is not an absolute path."""
    if not isinstance(raw, str) or not raw.startswith("/"):
        return raw
    for source, target in path_map:
        if source == "/":
            rest = raw
        elif raw == source or raw.startswith(source + "/"):
            rest = raw[len(source):]
        else:
            continue
        return (target.rstrip("/") + rest) or "/"
    return raw


def guess_mapping(path: str, roots: list[str]) -> str:
    """The `from=to` pair that would put `path` inside one of the library folders `roots`, guessed
    from names: a library folder named like a folder of the path (/tv/Show/x.mkv and the library
    /srv/media/tv give /tv=/srv/media/tv), else one holding the entry that follows a prefix of the
    path (/data/Show/x.mkv and a library holding Show give /data=that library); '' if none fits."""
    parts = [part for part in path.split("/") if part not in ("", ".", "..")]
    for index, part in enumerate(parts[:-1]):  # the file's own name is not a folder to map
        for root in roots:
            if os.path.basename(root) == part:
                return f"/{'/'.join(parts[:index + 1])}={root}"
    for index in range(1, len(parts)):
        for root in roots:
            if os.path.lexists(os.path.join(root, parts[index])):
                return f"/{'/'.join(parts[:index])}={root}"
    return ""


def unmapped_reason(raw: str, mapped: str, guess: str) -> str:
    """What the answer's `ignored` says about a path inside no library."""
    reason = "inside no library" if mapped == raw else f"inside no library (mapped to {mapped})"
    return f"{reason}; SCANNER_PATH_MAP={guess} would map it" if guess else reason


def report_unmapped(raw: str, mapped: str, guess: str) -> None:
    """Log a path inside no library, at most once every LOG_EVERY seconds in this process (a
    misconfigured Sonarr sends one per import: the log must show the problem, not drown in it)."""
    global _last_logged, _unlogged
    with _lock:
        now = time.monotonic()
        if now - _last_logged < LOG_EVERY:
            _unlogged += 1
            return
        _last_logged, others, _unlogged = now, _unlogged, 0
    fix = (f"SCANNER_PATH_MAP={guess} would map it" if guess
           else "no library looks like it: add a library, or map its prefix with SCANNER_PATH_MAP=from=to")
    after = f" (after SCANNER_PATH_MAP: {mapped})" if mapped != raw else ""
    since = f"; {others} more such paths since the last line" if others else ""
    log_decision(f"Notified path {raw} is inside no library{after}; {fix}{since}", action="path_unmapped",
                 level=logging.WARNING)
