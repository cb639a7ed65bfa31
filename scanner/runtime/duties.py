"""When this process does what (DESIGN.md 4, 5): the APScheduler scheduler and its duties.

A memory job store, so each process schedules its own duties; every duty runs one instance at
a time and a late run is coalesced, never queued up. The duties themselves are the runtime's
methods (scanner/runtime/process.py), wrapped by `duty`: fresh database connections, and a
database error logged and tried again next time, never raised into the scheduler.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.apps import apps
from django.db import DatabaseError
from django_apscheduler.util import close_old_connections

from scanner.jobs.leases import WorkerGone

if TYPE_CHECKING:
    from scanner.runtime.process import ScanRuntime

logger = logging.getLogger(__name__)
WATCH_TICK = 0.25  # seconds between looks at the watched libraries' changes


def duty(func):
    """A scheduled duty: fresh database connections, and a database error logged, not raised."""

    @functools.wraps(func)
    @close_old_connections
    def run(self: ScanRuntime) -> None:
        # A server's runtime starts from AppConfig.ready: its duties query nothing until Django
        # has finished setting up (a query before would be Django's start-up RuntimeWarning).
        apps.ready_event.wait()
        if self._stopping:
            return
        try:
            func(self)
        except WorkerGone:
            if not self._stopping:  # else it unregistered while this duty ran: nothing to do
                raise
        except DatabaseError as exc:
            logger.warning("%s postponed: database unavailable or not migrated: %s", func.__name__, exc,
                           extra={"action": "duty_failed", "worker": self.identity.label})

    return run


def new_scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )


def schedule_duties(scheduler: BackgroundScheduler, runtime: ScanRuntime) -> None:
    """Add the runtime's duties: recovery at once; claims, reconciliation and housekeeping if it
    claims jobs; heartbeats always; watching if it watches."""
    config, now, add = runtime.config, datetime.now(UTC), scheduler.add_job
    if runtime.claim_jobs:
        add(runtime.recover, id="startup_recovery", next_run_time=now)
        add(runtime.claim_pending, "interval", seconds=config.claim_interval, id="claim", next_run_time=now)
        # Jittered, so processes started together do not all sweep at the same instant.
        jitter = config.reconcile_interval / 5
        add(runtime.reconcile, "interval", seconds=config.reconcile_interval, id="reconcile", jitter=jitter)
        add(runtime.housekeeping, "interval", seconds=config.reconcile_interval, id="housekeeping",
            next_run_time=now, jitter=jitter)
    add(runtime.heartbeat, "interval", seconds=config.heartbeat_interval, id="heartbeat", next_run_time=now)
    if runtime.watcher is not None:
        add(runtime.watch, "interval", seconds=WATCH_TICK, id="watch", next_run_time=now)
