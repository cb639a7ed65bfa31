"""Where scanning starts: only processes that really serve decide to scan (DESIGN.md 4).

gunicorn calls `start_server_process` from its post_fork hook (gunicorn.conf.py), in each
worker, never in the master; runserver starts it from AppConfig.ready in its serving child;
`manage.py scanworker` and `manage.py scan` start their own. migrate, shell, tests and other
commands never reach this code, so they never start threads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from scanner.runtime import ScanRuntime, start_runtime, stop_runtime

logger = logging.getLogger(__name__)


def is_runserver_serving_process(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """True in the process of `manage.py runserver` that serves requests (the autoreloader's
    child, or the only process with --noreload), never in the reloader's parent."""
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return environ.get("RUN_MAIN") == "true" or "--noreload" in argv


def start_server_process(kind: str) -> ScanRuntime | None:
    """Start this process's scanner runtime. Never raises: a server must start anyway."""
    try:
        return start_runtime(kind)
    except Exception:
        logger.exception("scanner runtime failed to start; serving without scans", extra={"action": "runtime_failed"})
        return None


def stop_server_process(*, timeout: float) -> None:
    try:
        stop_runtime(timeout=timeout)
    except Exception:
        logger.exception("scanner runtime failed to stop cleanly", extra={"action": "runtime_stop_failed"})
