"""A job whose process lived but could not go on (DESIGN.md 5): paused, to resume once it can.

Called by the engine when the database went away during a scan, and by the runtime when a scan
thread could not start. When even the pause cannot be written (the database is still out of
reach), the job stays `running` with no thread behind it: recovery, in this process or another,
finds it so and pauses it the same way, so nothing is lost by giving up here.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection

from scanner.conf import ScannerConfig
from scanner.jobs import lifecycle
from scanner.jobs.leases import Lease
from scanner.jobs.resume_policy import after_interruption
from scanner.models import ScanJob

logger = logging.getLogger(__name__)


def interrupt(lease: Lease, *, cause: str, config: ScannerConfig) -> ScanJob | None:
    """Pause the job as interrupted by `cause`; None if the pause could not be written (the
    lease moved on, or the database is away: recovery does it later)."""
    try:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # after a lost connection: a new one
        job = ScanJob.objects.get(pk=lease.job_id)
        verdict = after_interruption(files_processed=job.files_processed, progress=job.progress,
                                     attempts=job.auto_resume_attempts, process_died=False, config=config)
        return lifecycle.pause_interrupted(lease, cause=cause, files_processed=job.files_processed,
                                           attempts=job.auto_resume_attempts, verdict=verdict)
    except DatabaseError as exc:
        logger.warning("could not pause job %s as interrupted (%s): %s; recovery will", lease.job_id, cause, exc,
                       extra={"action": "interrupt_postponed", "job": lease.job_id, "library": lease.library_id})
        return None
