"""The server's own files are readable by its own user only.

var/ holds the SQLite database, where API tokens and session keys are stored as they are sent,
and the secret key that signs sessions: any other user of the NAS who could read them could take
over the admin. New files get mode 0600 from the umask the entry points set (manage.py and
gunicorn.conf.py); what an older install left readable is tightened when settings load.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

UMASK = 0o077
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")  # SQLite gives these the database's own mode

log = logging.getLogger(__name__)


def tighten(var_dir: Path, sqlite_path: str | None) -> None:
    """var/ to 0700; the secret key and the SQLite database with its companions to 0600."""
    _chmod(var_dir, 0o700)
    _chmod(var_dir / "secret_key", 0o600)
    if sqlite_path and sqlite_path != ":memory:":
        for suffix in SQLITE_COMPANIONS:
            _chmod(Path(sqlite_path + suffix), 0o600)


def _chmod(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) & ~mode:
            path.chmod(mode)
    except FileNotFoundError:
        pass
    except OSError as exc:  # not ours (a shared MEDIASERVER_VAR_DIR): say so, and serve anyway
        log.warning("Cannot make %s private: %s", path, exc.strerror, extra={"path": str(path)})
