"""The scanner's tunables: one typed object, each value with its unit and default here.

settings.py builds it from the environment (SCANNER_* variables, DESIGN.md section 7);
code reads it with `scanner_config()`, tests replace it with `dataclasses.replace`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from common.env import env_bool, env_float, env_int


def _default_metadata_workers() -> int:
    return max(1, os.cpu_count() or 1)


MIN_WATCH_DELAY = 1.0  # seconds (see SCANNER_WATCH_DELAY below)
PathMap = tuple[tuple[str, str], ...]  # (from prefix, to prefix), longest prefix first


def parse_path_map(raw: str | None, *, name: str = "SCANNER_PATH_MAP") -> PathMap:
    """`from=to;from=to` -> pairs of absolute prefixes without trailing slashes, longest `from`
    first, so /data/tv wins over /data for a path under both."""
    pairs = []
    for item in (raw or "").split(";"):
        if not item.strip():
            continue
        source, sep, target = item.partition("=")
        source, target = source.strip(), target.strip()
        if not sep or not source.startswith("/") or not target.startswith("/"):
            raise ImproperlyConfigured(f"{name} must be ';'-separated from=to pairs of absolute paths "
                                       f"(/tv=/srv/media/tv), got {item.strip()!r}")
        pairs.append((os.path.normpath(source).rstrip("/") or "/", os.path.normpath(target).rstrip("/") or "/"))
    if len({source for source, _ in pairs}) != len(pairs):
        raise ImproperlyConfigured(f"{name} maps one prefix twice: {raw!r}")
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


@dataclass(frozen=True)
class ScannerConfig:
    enabled: bool = True  # False: this process serves the web only and runs no scans
    max_concurrent: int = 2  # scans one process runs at once
    max_files_per_second: float = 0  # files/s per scan; 0 means no limit
    batch_size: int = 5000  # files per committed batch (fewer when walking them takes over 2 s)
    claim_interval: float = 1.0  # seconds between polls for pending jobs
    reconcile_interval: float = 30  # seconds between reconciliations
    heartbeat_interval: float = 10  # seconds between worker heartbeats
    worker_timeout: float = 30  # seconds of heartbeat silence after which a worker is dead
    auto_resume: bool = True  # resume interrupted scans automatically
    auto_resume_min_files: int = 10  # ... when more than this many files were processed
    auto_resume_min_percent: float = 1  # ... or more than this percent
    auto_resume_max_attempts: int = 5  # automatic resumes in a row without progress before a person must resume
    metadata_workers: int = field(default_factory=_default_metadata_workers)  # tag-reading processes
    read_timeout: float = 30  # seconds one file's tags may take before its reader is replaced
    walk_threads: int = 16  # threads listing and stat'ing ahead of the walk on a slow share; 0: never
    retention_days: int = 90  # finished scans and their events are pruned after this; 0 keeps them
    prune_interval: float = 3600  # seconds between prunes of old scan history
    watch: bool = True  # watch libraries (those with `watch` on) for changes; False: this process never does
    watch_delay: float = 2  # seconds of quiet in a library before its changes are scanned (at most 30 s after)
    changes_max_attempts: int = 5  # failed scans of the same changes in a row before they wait for a person
    move_window_days: float = 30  # days a missing file's row waits to be recognised as moved
    path_map: PathMap = ()  # prefixes rewritten in notified paths: what the *arr sees -> what this server sees

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ScannerConfig:
        d = cls()
        config = cls(
            enabled=env_bool(environ, "SCANNER_ENABLED", d.enabled),
            max_concurrent=env_int(environ, "SCANNER_MAX_CONCURRENT", d.max_concurrent, minimum=1),
            max_files_per_second=env_float(environ, "SCANNER_MAX_FILES_PER_SECOND", d.max_files_per_second),
            batch_size=env_int(environ, "SCANNER_BATCH_SIZE", d.batch_size, minimum=1),
            claim_interval=env_float(environ, "SCANNER_CLAIM_INTERVAL", d.claim_interval, minimum=0.05),
            reconcile_interval=env_float(environ, "SCANNER_RECONCILE_INTERVAL", d.reconcile_interval, minimum=0.1),
            heartbeat_interval=env_float(environ, "SCANNER_HEARTBEAT_INTERVAL", d.heartbeat_interval, minimum=0.1),
            worker_timeout=env_float(environ, "SCANNER_WORKER_TIMEOUT", d.worker_timeout, minimum=0.1),
            auto_resume=env_bool(environ, "SCANNER_AUTO_RESUME", d.auto_resume),
            auto_resume_min_files=env_int(environ, "SCANNER_AUTO_RESUME_MIN_FILES", d.auto_resume_min_files),
            auto_resume_min_percent=env_float(
                environ, "SCANNER_AUTO_RESUME_MIN_PERCENT", d.auto_resume_min_percent
            ),
            auto_resume_max_attempts=env_int(
                environ, "SCANNER_AUTO_RESUME_MAX_ATTEMPTS", d.auto_resume_max_attempts, minimum=1
            ),
            metadata_workers=env_int(environ, "SCANNER_METADATA_WORKERS", d.metadata_workers),
            read_timeout=env_float(environ, "SCANNER_READ_TIMEOUT", d.read_timeout, minimum=0.1),
            walk_threads=env_int(environ, "SCANNER_WALK_THREADS", d.walk_threads),
            retention_days=env_int(environ, "SCANNER_RETENTION_DAYS", d.retention_days),
            prune_interval=env_float(environ, "SCANNER_PRUNE_INTERVAL", d.prune_interval, minimum=1),
            watch=env_bool(environ, "SCANNER_WATCH", d.watch),
            # At least a second: the two halves of a rename reach the watcher up to half a second
            # apart (watchdog pairs them that long), and must land in one scan to keep the file's row.
            watch_delay=env_float(environ, "SCANNER_WATCH_DELAY", d.watch_delay, minimum=MIN_WATCH_DELAY),
            changes_max_attempts=env_int(environ, "SCANNER_CHANGES_MAX_ATTEMPTS", d.changes_max_attempts, minimum=1),
            move_window_days=env_float(environ, "SCANNER_MOVE_WINDOW_DAYS", d.move_window_days),
            path_map=parse_path_map(environ.get("SCANNER_PATH_MAP")),
        )
        if config.worker_timeout <= config.heartbeat_interval:
            raise ImproperlyConfigured(
                f"SCANNER_WORKER_TIMEOUT ({config.worker_timeout}s) must be longer than SCANNER_HEARTBEAT_INTERVAL "
                f"({config.heartbeat_interval}s), or live workers would look dead"
            )
        return config


def scanner_config() -> ScannerConfig:
    from django.conf import settings

    return settings.SCANNER
