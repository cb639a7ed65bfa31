"""The audit trail: every decision about a job is one ScanEvent row and one structured log line."""

from __future__ import annotations

import logging

from scanner.models import ScanEvent

logger = logging.getLogger("scanner")


def record_event(
    job_id: int, kind: str, message: str, *, worker: str = "", library_id: int | None = None,
    level: int = logging.INFO, **data,
) -> None:
    logger.log(level, message, extra={"action": kind, "job": job_id, "library": library_id, "worker": worker or "-"})
    ScanEvent.objects.create(job_id=job_id, kind=kind, message=message, worker=worker, data=data)


def log_decision(message: str, *, action: str, job_id: int | None = None, library_id: int | None = None,
                 worker: str = "", level: int = logging.INFO) -> None:
    """A log line only, for what is too frequent to keep as an event (a file that failed)."""
    logger.log(level, message, extra={"action": action, "job": job_id, "library": library_id, "worker": worker or "-"})
