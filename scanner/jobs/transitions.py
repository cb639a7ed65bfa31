"""How a lifecycle transition is made (scanner/jobs/lifecycle.py decides which): the guarded
UPDATE, its event, the give-back of what it owed, and its announcement once committed. Only the
lifecycle imports this (an import-linter contract), so it stays the one writer of a job's status.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.db.models.expressions import Combinable
from django.db.models.functions import Now

from scanner.core import procinfo
from scanner.jobs import pending
from scanner.jobs.events import record_event
from scanner.jobs.leases import Lease
from scanner.jobs.resume_policy import Verdict
from scanner.models import ScanJob
from scanner.signals import job_changed

Status = ScanJob.Status
# What a guarded UPDATE's WHERE may hold: a Q, or a conditional expression such as ~Exists(...).
Condition = Q | Combinable


def as_seen(job: ScanJob, *, counts: bool = True) -> Q:
    """The job is still as the caller read it: status, pause reason, lease, and its counts
    when the decision or the message uses them (a running job's counts move with each batch)."""
    seen = Q(status=job.status, pause_reason=job.pause_reason, lease_token=job.lease_token)
    return seen & Q(files_processed=job.files_processed) if counts else seen


def as_held(lease: Lease) -> Q:
    return Q(status=Status.RUNNING, lease_token=lease.lease_token)


def released() -> dict:
    """Fields that end ownership; every transition out of `running` sets them."""
    return {"owner": None, "worker_name": "", "files_per_second": 0}


def finished() -> dict:
    return {**released(), "phase": ScanJob.Phase.DONE, "pause_reason": None, "resumes_automatically": False,
            "completed_at": Now()}


def with_note(message: str, verdict: Verdict) -> str:
    return f"{message}; {verdict.note}" if verdict.note else message


def move(job_id: int, where: Condition, *, frm: str, to: str, event: str, message: str, worker: str = "",
          level: int = logging.INFO, gave_up: bool = False, owed: str = "", **fields) -> ScanJob | None:
    """The guarded UPDATE, its event and its announcement; `where` fixes the status `frm`.
    `owed` (failed, cancelled, unavailable): the job ends unfinished, so a scope it took from
    pending changes goes back to them, in this transaction."""
    with transaction.atomic():
        if not ScanJob.objects.filter(where, pk=job_id).update(status=to, status_message=message, updated_at=Now(),
                                                               **fields):
            return None
        job = ScanJob.objects.get(pk=job_id)
        announce(job, event, message, frm=frm, worker=worker or procinfo.process_label(), level=level)
        if gave_up:
            record_event(job.pk, "auto_resume_gave_up", message, worker=worker or procinfo.process_label(),
                         library_id=job.library_id, level=logging.WARNING)
        if owed and job.from_changes:
            pending.give_back(job, why=owed, worker=worker or procinfo.process_label())
    return job


def announce(job: ScanJob, event: str, message: str, *, frm: str, worker: str, level: int = logging.INFO) -> None:
    record_event(job.pk, event, message, worker=worker, library_id=job.library_id, level=level,
                 **{"from": frm, "to": job.status, "lease": job.lease_token})
    transaction.on_commit(lambda: job_changed.send_robust(
        sender=ScanJob, job_id=job.pk, library_id=job.library_id, status=job.status))
