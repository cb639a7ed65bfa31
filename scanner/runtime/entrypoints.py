"""Where scanning starts: only processes that really serve decide to scan (DESIGN.md 4).

A server process declares itself before Django is set up (gunicorn's post_fork hook, in each
worker and never in the master); runserver's serving child is recognised by its arguments;
`manage.py scanworker` and `manage.py scan` start their own runtime. AppConfig.ready then
starts the runtime, whose first duty, in a background thread, is startup recovery.
migrate, shell, tests and other commands never declare themselves, so they never scan.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.runtime.process import ScanRuntime

# Importable before Django is set up (gunicorn's post_fork): the runtime is imported lazily.
logger = logging.getLogger(__name__)
_declared_kind: str | None = None
_runtime: ScanRuntime | None = None
_runtime_lock = threading.Lock()
_startup_frozen = False


def declare_server_process(kind: str) -> None:
    """Mark this process as a server that scans; call before django.setup()."""
    global _declared_kind
    _declared_kind = kind


def is_runserver_serving_process(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """True in the process of `manage.py runserver` that serves requests (the autoreloader's
    child, or the only process with --noreload), never in the reloader's parent."""
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return environ.get("RUN_MAIN") == "true" or "--noreload" in argv


def on_ready() -> None:
    """Called from AppConfig.ready: start scanning if, and only if, this is a server process."""
    if is_runserver_serving_process(sys.argv, os.environ):
        declare_server_process("runserver")
    if _declared_kind is not None:
        start_server_process(_declared_kind)


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
    finally:
        from scanner.core.readers import shutdown_pool

        shutdown_pool()  # the runtime's shutdown does it too, unless it failed before: no reader outlives us


def start_runtime(kind: str, *, claim_jobs: bool = True) -> ScanRuntime | None:
    """Start this process's runtime once; None when SCANNER_ENABLED is off."""
    global _runtime
    from scanner.conf import scanner_config
    from scanner.runtime.process import ScanRuntime

    config = scanner_config()
    if not config.enabled:
        logger.info("scanner disabled in this process", extra={"action": "scanner_disabled"})
        return None
    with _runtime_lock:
        if _runtime is None:
            freeze_startup_objects()
            _runtime = ScanRuntime(kind=kind, config=config, claim_jobs=claim_jobs).start()
        return _runtime


def freeze_startup_objects() -> None:
    """Once a process: what it loaded to serve (Django, the apps, their modules) lives as long as
    it does, so the garbage collector's full passes need not walk it again and again. A scan keeps
    a batch of file entries alive at a time, which sets off full passes; each walked the ~100k
    objects loaded, 80-90 ms a pass, 0.3 s of a first scan of 100k files (bench/NOTES.md)."""
    global _startup_frozen
    if not _startup_frozen:
        _startup_frozen = True
        gc.freeze()


def current_runtime() -> ScanRuntime | None:
    """This process's runtime, if it scans; the health endpoint reads it (without importing the engine)."""
    return _runtime


def stop_runtime(*, timeout: float = 20) -> None:
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown(timeout=timeout)
