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
        self._would_pause: list[ScanJob] = []

    def run(self) -> RecoveryReport:
        with transaction.atomic():
            self._judge_workers()
            if try_shared_lock("recovery"):
                self._resolve_duplicates()
                self._fail_jobs_of_deleted_libraries()
                self._pause_orphans()
                self._remove_dead_workers()
            else:
                # Another process sweeps for everyone; this process's own jobs need no lock.
                self.report.skipped = "another process is running the shared sweep"
                if self.worker is not None:
                    self._pause_orphans(owner=self.worker.pk)
            if self.resume:
                self._resume_interrupted()
        return self.report

    def _judge_workers(self) -> None:
        """Once per pass, so every step agrees on who is dead."""
        workers = list(Worker.objects.all())
        stale = set(Worker.objects.filter(heartbeat_at__lt=Now() - timedelta(seconds=self.config.worker_timeout))
                    .values_list("pk", flat=True))
        self.workers = {w.pk: w for w in workers}
        self.dead = {
            w.pk: reason for w in workers
            if (self.worker is None or w.pk != self.worker.pk) and (reason := dead_reason(w, stale=w.pk in stale))
        }

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
                                 lease_token=job.lease_token, changes=jobstore.finished_fields(Status.CANCELLED))

    def _fail_jobs_of_deleted_libraries(self) -> None:
        for job in ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=True):
            message = "The library of this scan was deleted"
            self._decide(job, "library_gone", message, status=job.status, lease_token=job.lease_token,
                         changes=dict(error_message=message, **jobstore.finished_fields(Status.FAILED)))

    def _pause_orphans(self, owner=None) -> None:
        running = ScanJob.objects.filter(status=Status.RUNNING)
        if owner is not None:
            running = running.filter(owner=owner)
        for job in running:
            why = self._why_orphaned(job)
            if why is None:
                continue
            message = f"Interrupted ({why}) after {job.files_processed:,} of {job.files_found:,} files"
            if not self.resume:
                message += "; resume it when ready"
            elif not self._has_real_progress(job):
                message += "; too little progress to resume automatically: resume it when ready"
            if self._decide(job, "orphaned", message, status=Status.RUNNING, lease_token=job.lease_token,
                            changes=dict(status=Status.PAUSED, pause_reason=ScanJob.PauseReason.INTERRUPTED,
                                         paused_at=Now(), **jobstore.released_fields())) and self.dry_run:
                job.status, job.pause_reason = Status.PAUSED, ScanJob.PauseReason.INTERRUPTED
                self._would_pause.append(job)  # so a dry run also reports its resume

    def _resume_interrupted(self) -> None:
        paused = list(ScanJob.objects.filter(
            status=Status.PAUSED, library__isnull=False,
            pause_reason__in=[ScanJob.PauseReason.INTERRUPTED, ScanJob.PauseReason.SHUTDOWN],
        ))
        for job in paused + self._would_pause:
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
        for pk in self.dead:
            if not self.dry_run:
                Worker.objects.filter(pk=pk).delete()
            label = self.workers[pk].label
            self.report.decisions.append(Decision("worker_removed", None, None, f"Removed the row of dead worker {label}"))

    # ----------------------------------------------------------------- judgement
    def _why_orphaned(self, job: ScanJob) -> str | None:
        """Why the job's owner cannot be running it, or None if it may be."""
        if job.owner is None or job.owner not in self.workers:
            return "its server process is gone"
        if self.worker is not None and job.owner == self.worker.pk:
            return None if job.pk in self.live_job_ids else "its scan thread in this process ended"
        return self.dead.get(job.owner)

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
                lease_token: int | None = None) -> bool:
        """Compare-and-set the job, with its event; False if somebody changed it first."""
        if not self.dry_run:
            guard = ScanJob.objects.filter(pk=job.pk, status=status)
            if lease_token is not None:
                guard = guard.filter(lease_token=lease_token)
            if not guard.update(status_message=message, **changes):
                return False
            record_event(job.pk, action, message, worker=self.label, library_id=job.library_id,
                         level=logging.WARNING if action in ("orphaned", "library_gone") else logging.INFO,
                         source=self.source)
        self.report.decisions.append(Decision(action, job.pk, job.library_id, message))
        return True


def dead_reason(worker: Worker, *, stale: bool) -> str | None:
    """Why `worker`'s process is dead, or None if it may be alive: on this host by its pid
    (exact, at once), elsewhere by its heartbeat (`stale`: older than the timeout by the
    database's clock)."""
    namespace = procinfo.pid_namespace()
    if namespace and (worker.hostname, worker.pid_namespace) == (procinfo.hostname(), namespace):
        if procinfo.is_alive(worker.pid, worker.process_started):
            return None
        return f"server process {worker.label} is no longer running"
    if stale:
        return f"server process {worker.label} stopped sending heartbeats"
    return None


def recover_scans(**kwargs) -> RecoveryReport:
    """Run one recovery pass; see Recovery for the arguments."""
    return Recovery(**kwargs).run()
