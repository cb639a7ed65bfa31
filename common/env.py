"""Typed readers for the environment variables of DESIGN.md section 7.

Plain functions with no Django import, so settings.py and the tests can both use them.
A malformed value fails loudly at start-up with the variable's name, never silently.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
SQLITE_BUSY_TIMEOUT = 30  # seconds a SQLite writer waits for the lock before failing


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def env_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(environ: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:  # also rejects NaN
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def env_list(environ: Mapping[str, str], name: str, default: str, *, sep: str = ",") -> list[str]:
    raw = environ.get(name, default)
    return [item.strip() for item in raw.split(sep) if item.strip()]


def time_zone(environ: Mapping[str, str], *, etc: Path = Path("/etc")) -> str:
    """TIME_ZONE: the zone pages show times in (an IANA name such as Europe/Paris); by default
    the host's. A name Python's zoneinfo does not know fails at start-up rather than showing UTC."""
    raw = (environ.get("TIME_ZONE") or "").strip()
    if not raw:
        return host_time_zone(environ, etc=etc)
    if not _is_zone(raw):
        raise ImproperlyConfigured(f"TIME_ZONE must be an IANA time zone name such as Europe/Paris, got {raw!r}")
    return raw


def host_time_zone(environ: Mapping[str, str], *, etc: Path = Path("/etc")) -> str:
    """The host's zone as its other programs see it: the TZ variable, Debian's /etc/timezone, the
    /etc/localtime link (systemd's timedatectl sets it); UTC when none names a zone (a container)."""
    candidates = [(environ.get("TZ") or "").strip().removeprefix(":")]
    try:
        candidates.append((etc / "timezone").read_text().strip())
    except OSError:
        pass  # not Debian, or not set: the link may say
    link = os.path.realpath(etc / "localtime")
    if "/zoneinfo/" in link:
        candidates.append(link.split("/zoneinfo/", 1)[1].removeprefix("posix/").removeprefix("right/"))
    return next((name for name in candidates if _is_zone(name)), "UTC")


def _is_zone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False  # a path, not a name: ZoneInfo would refuse it less clearly
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def parse_media_roots(raw: str | None) -> list[str]:
    """MEDIA_ROOTS: ':'-separated absolute folders, returned as real paths, duplicates dropped."""
    roots: list[str] = []
    for item in (raw or "").split(":"):
        item = item.strip()
        if not item:
            continue
        if not os.path.isabs(item):
            raise ImproperlyConfigured(f"MEDIA_ROOTS entries must be absolute paths, got {item!r}")
        real = os.path.realpath(item)
        if real not in roots:
            roots.append(real)
    return roots


def database_config(url: str | None, var_dir: Path) -> dj_database_url.DBConfig:
    """DATABASES['default'] from DATABASE_URL, or the embedded SQLite file under var/."""
    if not url:
        url = f"sqlite:///{var_dir / 'db.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=0, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL dj-database-url understands: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN,
        # so a transaction waits for it (busy timeout) instead of failing half-way with
        # "database is locked" when it upgrades from reader to writer.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
        # Tests use a file, not Django's in-memory default: scanner threads need their own
        # connections to see the same data.
        if config["NAME"] and config["NAME"] != ":memory:":
            name = Path(config["NAME"])
            config["TEST"] = {"NAME": str(name.with_name(f"test_{name.name}"))}
    return config


def load_or_create_secret_key(path: Path) -> str:
    """Read the key kept at `path`, creating it (mode 0600) on first use.

    Several gunicorn workers may start at once: the key is written to a private temporary
    file and linked into place, so exactly one key wins and nobody reads a half-written file.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 50:
        raise ImproperlyConfigured(f"The secret key in {path} is too short; delete the file to generate a new one")
    return key
