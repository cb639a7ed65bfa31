"""Startup recovery and its periodic twin (DESIGN.md section 5).

Finds jobs the database shows as open that nothing can be running (their owner process is
dead) or that should not exist (duplicates, deleted libraries), fixes them, and hands
eligible interrupted scans back to the claim path, so exactly one process resumes each.

An owner is dead when its worker row is gone; on this host, when its pid is gone, is a zombie
or belongs to a newer process; on another host, when its heartbeat is older than
SCANNER_WORKER_TIMEOUT by the database's clock. A job whose owner is alive is never touched:
that is the bug this module exists to avoid. Every change is a compare-and-set on the job's
status (and lease token), so processes recovering at once cannot both act on one job; each
decision is a ScanEvent and a log line.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from scanner import jobstore, procinfo
from scanner.conf import ScannerConfig, scanner_config
from scanner.events import record_event
from scanner.locks import try_shared_lock
from scanner.models import ScanJob, Worker

logger = logging.getLogger(__name__)
Status = ScanJob.Status


@dataclass
class Decision:
    action: str  # superseded, library_gone, orphaned, auto_resumed, worker_removed
    job: int | None
    library: int | None
    message: str


@dataclass
class RecoveryReport:
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)
    skipped: str = ""  # why the shared sweep did not run, if it did not

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "skipped": self.skipped, "decisions": [asdict(d) for d in self.decisions]}


class Recovery:
    """One pass of recovery, seen from one process (`worker`, or None for a command)."""

    def __init__(self, *, worker: Worker | None = None, live_job_ids: Collection[int] = (), dry_run: bool = False,
                 resume: bool = True, source: str = "startup", config: ScannerConfig | None = None):
        self.worker = worker
        self.live_job_ids = set(live_job_ids)
        self.dry_run = dry_run
        self.config = config or scanner_config()
        self.resume = resume and self.config.auto_resume
        self.source = source
        self.report = RecoveryReport(dry_run=dry_run)
        self.label = worker.label if worker else f"{procinfo.hostname()}:{os.getpid()}"

    def run(self) -> RecoveryReport:
        with transaction.atomic():
            if not try_shared_lock("recovery"):
                self.report.skipped = "another process is running the shared sweep"
                return self.report
            self._resolve_duplicates()
            self._fail_jobs_of_deleted_libraries()
            self._pause_orphans()
            if self.resume:
                self._resume_interrupted()
            self._remove_dead_workers()
        return self.report

    # ----------------------------------------------------------------- the steps
    def _resolve_duplicates(self) -> None:
        """More than one open job for a library (the constraint forbids it; old data may not):
        keep the one with most progress, then the newest; cancel the others."""
        by_library: dict[int, list[ScanJob]] = defaultdict(list)
        for job in ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=False):
            by_library[job.library_id].append(job)
        for jobs in by_library.values():
            if len(jobs) < 2:
                continue
            keep = max(jobs, key=lambda j: (j.files_processed, j.created_at, j.pk))
            for job in jobs:
                if job.pk != keep.pk:
                    self._decide(job, "superseded", f"Superseded by job {keep.pk}", status=job.status,
                                 changes=jobstore.finished_fields(Status.CANCELLED))

    def _fail_jobs_of_deleted_libraries(self) -> None:
        for job in ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=True):
            message = "The library of this scan was deleted"
            self._decide(job, "library_gone", message, status=job.status,
                         changes=dict(error_message=message, **jobstore.finished_fields(Status.FAILED)))

    def _pause_orphans(self) -> None:
        running = list(ScanJob.objects.filter(status=Status.RUNNING))
        if not running:
            return
        owners = {w.pk: w for w in Worker.objects.filter(pk__in={j.owner for j in running if j.owner})}
        stale = self._stale_worker_ids(owners.values())
        for job in running:
            why = self._why_orphaned(job, owners.get(job.owner), stale)
            if why is None:
                continue
            message = f"Interrupted ({why}) after {job.files_processed:,} of {job.files_found:,} files"
            if not self.resume:
                message += "; resume it when ready"
            elif not self._has_real_progress(job):
                message += "; too little progress to resume automatically: resume it when ready"
            self._decide(job, "orphaned", message, status=Status.RUNNING, lease_token=job.lease_token,
                         changes=dict(status=Status.PAUSED, pause_reason=ScanJob.PauseReason.INTERRUPTED,
                                      paused_at=Now(), **jobstore.released_fields()))

    def _resume_interrupted(self) -> None:
        paused = ScanJob.objects.filter(
            status=Status.PAUSED, library__isnull=False,
            pause_reason__in=[ScanJob.PauseReason.INTERRUPTED, ScanJob.PauseReason.SHUTDOWN],
        )
        for job in paused:
            if not self._eligible(job):
                continue
            reason = "a server shutdown" if job.pause_reason == ScanJob.PauseReason.SHUTDOWN else "a server restart"
            message = (f"Interrupted by {reason} after {job.files_processed:,} of {job.files_found:,} files; "
                       "resumed automatically")
            self._decide(job, "auto_resumed", message, status=Status.PAUSED,
                         changes=dict(status=Status.PENDING, pause_reason=None, trigger=ScanJob.Trigger.AUTO_RESUME,
                                      resumed_at=Now(), resume_count=F("resume_count") + 1, updated_at=Now()))

    def _remove_dead_workers(self) -> None:
        """Worker rows of processes that are gone; their jobs were handled above."""
        workers = list(Worker.objects.all())
        stale = self._stale_worker_ids(workers)
        for w in workers:
            if (self.worker is None or w.pk != self.worker.pk) and self._dead_reason(w, stale):
                if not self.dry_run:
                    Worker.objects.filter(pk=w.pk).delete()
                self.report.decisions.append(Decision("worker_removed", None, None, f"Removed the row of dead worker {w.label}"))

    # ----------------------------------------------------------------- judgement
    @property
    def _timeout(self) -> timedelta:
        return timedelta(seconds=self.config.worker_timeout)

    def _stale_worker_ids(self, workers) -> set:
        """Workers whose heartbeat is older than the timeout, by the database's clock."""
        return set(Worker.objects.filter(pk__in=[w.pk for w in workers], heartbeat_at__lt=Now() - self._timeout)
                   .values_list("pk", flat=True))

    def _why_orphaned(self, job: ScanJob, owner: Worker | None, stale: set) -> str | None:
        """Why the job's owner cannot be running it, or None if it may be."""
        if job.owner is None or owner is None:
            return "its server process is gone"
        if self.worker is not None and owner.pk == self.worker.pk:
            return None if job.pk in self.live_job_ids else "its scan thread in this process ended"
        return self._dead_reason(owner, stale)

    def _dead_reason(self, worker: Worker, stale: set) -> str | None:
        return dead_reason(worker, stale=worker.pk in stale)

    def _eligible(self, job: ScanJob) -> bool:
        if job.pause_reason == ScanJob.PauseReason.SHUTDOWN:
            return True  # paused on purpose by a stopping server, to be resumed by the next one
        return self._has_real_progress(job)

    def _has_real_progress(self, job: ScanJob) -> bool:
        # An interrupted scan with hardly any progress may be one that crashes its server:
        # resuming it forever would be a crash loop. It waits for a person instead.
        return (job.files_processed > self.config.auto_resume_min_files
                or job.progress > self.config.auto_resume_min_percent)

    # ----------------------------------------------------------------- acting
    def _decide(self, job: ScanJob, action: str, message: str, *, status: str, changes: dict,
                lease_token: int | None = None) -> None:
        if not self.dry_run:
            guard = ScanJob.objects.filter(pk=job.pk, status=status)
            if lease_token is not None:
                guard = guard.filter(lease_token=lease_token)
            if not guard.update(status_message=message, **changes):
                return  # somebody else changed it first
            record_event(job.pk, action, message, worker=self.label, library_id=job.library_id,
                         level=logging.WARNING if action in ("orphaned", "library_gone") else logging.INFO,
                         source=self.source)
        self.report.decisions.append(Decision(action, job.pk, job.library_id, message))


def dead_reason(worker: Worker, *, stale: bool) -> str | None:
    """Why `worker`'s process is dead, or None if it may be alive: on this host by its pid
    (exact, at once), elsewhere by its heartbeat (`stale`: older than the timeout by the
    database's clock)."""
    if (worker.hostname, worker.boot_id) == (procinfo.hostname(), procinfo.boot_id()):
        if procinfo.is_alive(worker.pid, worker.process_started):
            return None
        return f"server process {worker.label} is no longer running"
    if stale:
        return f"server process {worker.label} stopped sending heartbeats"
    return None


def recover_scans(**kwargs) -> RecoveryReport:
    """Run one recovery pass; see Recovery for the arguments."""
    return Recovery(**kwargs).run()
