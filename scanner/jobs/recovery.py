"""Startup recovery and its periodic twin (DESIGN.md section 5).

Finds jobs the database shows as open that nothing can be running (their owner process is
dead) or that should not exist (duplicates, deleted libraries), has the lifecycle fix them,
and hands resumable paused scans back to the claim path, so exactly one process resumes each.

An owner is dead when its worker row is gone; on this host, when its pid is gone, is a zombie
or belongs to a newer process; on another host, when its heartbeat is older than
SCANNER_WORKER_TIMEOUT by the database's clock. What a pass reads is only a hint: each write
re-checks, in its WHERE clause, the job's state and the owner's death at that moment, so a
user's pause or a worker that registers and claims during the pass always wins.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from functools import partial

from django.db.models import Exists, Q

from common.locks import shared_duty
from scanner.conf import ScannerConfig, scanner_config
from scanner.jobs import lifecycle, workers
from scanner.jobs.resume_policy import after_interruption, retry_delay
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


@dataclass(frozen=True)
class Death:
    why: str  # for the job's message
    still_dead: lifecycle.Condition  # holds, at the moment of a write, only while the owner is still dead


class Recovery:
    """One pass of recovery, seen from one process (`worker`, or None for a command).

    `live_job_ids` are this process's running scan threads, read while it claims nothing.
    `interleave` is a test seam: it runs once the pass has judged the workers (with None), and
    before each write (with the job as the pass read it), so a test can act in between.
    """

    def __init__(self, *, worker: Worker | None = None, live_job_ids: Collection[int] = (), dry_run: bool = False,
                 resume: bool = True, config: ScannerConfig | None = None,
                 interleave: Callable[[ScanJob | None], None] = lambda job: None):
        self.worker = worker
        self.live_job_ids = set(live_job_ids)
        self.dry_run = dry_run
        self.config = config or scanner_config()
        self.resume = resume and self.config.auto_resume
        self.interleave = interleave
        self.report = RecoveryReport(dry_run=dry_run)
        self._would_pause: list[ScanJob] = []

    def run(self) -> RecoveryReport:
        self._judge_workers()
        self.interleave(None)
        with shared_duty("recovery") as sweeping:
            if sweeping:
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
            self._resume_paused()
        return self.report

    def _judge_workers(self) -> None:
        self.workers = {w.pk: w for w in workers.judged(Worker.objects.all(), timeout=self.config.worker_timeout)}
        self.dead = {pk: death for pk, w in self.workers.items() if (death := self._death_of(w)) is not None}

    def _death_of(self, worker: workers.JudgedWorker) -> Death | None:
        if self.worker is not None and worker.pk == self.worker.pk:
            return None
        reason = workers.dead_reason(worker, stale=worker.stale)
        if reason is None:
            return None
        if worker.stale and not workers.pids_visible(worker):
            # Dead only while it stays silent: a heartbeat that lands meanwhile revives it.
            return Death(reason, ~Exists(workers.beating(worker.pk, timeout=self.config.worker_timeout)))
        return Death(reason, Q())  # a process that is gone (pid, start time) never comes back

    # ----------------------------------------------------------------- the steps
    def _resolve_duplicates(self) -> None:
        """More than one open job for a library (the constraint forbids it; old data may not):
        keep the one with most progress, then the newest; cancel the others."""
        by_library: dict[int | None, list[ScanJob]] = defaultdict(list)
        for job in ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=False):
            by_library[job.library_id].append(job)
        for jobs in by_library.values():
            keep = max(jobs, key=lambda j: (j.files_processed, j.created_at, j.pk))
            for job in jobs:
                if job.pk != keep.pk:
                    self._decide(job, "superseded", f"Superseded by job {keep.pk}",
                                 partial(lifecycle.supersede, job, keeper_id=keep.pk))

    def _fail_jobs_of_deleted_libraries(self) -> None:
        message = "The library of this scan was deleted"
        for job in ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES, library__isnull=True):
            self._decide(job, "library_gone", message, partial(lifecycle.fail_library_gone, job, message=message))

    def _pause_orphans(self, owner=None) -> None:
        running = ScanJob.objects.filter(status=Status.RUNNING)
        if owner is not None:
            running = running.filter(owner=owner)
        for job in running:
            death = self._death_of_owner(job)
            if death is None:
                continue
            own = self.worker is not None and job.owner == self.worker.pk
            verdict = after_interruption(files_processed=job.files_processed, progress=job.progress,
                                         attempts=job.auto_resume_attempts, process_died=not own, config=self.config,
                                         owes_changes=job.from_changes)
            note = "; resume it when ready" if verdict.resumable and not self.resume else ""
            paused = self._decide(job, "orphaned", death.why, partial(
                lifecycle.pause_orphaned, job, why=death.why, still_dead=death.still_dead, verdict=verdict, note=note))
            if paused is not None and self.dry_run:
                job.status, job.pause_reason = Status.PAUSED, ScanJob.PauseReason.INTERRUPTED
                job.resumes_automatically = verdict.resumable
                self._would_pause.append(job)  # so a dry run also reports its resume

    def _resume_paused(self) -> None:
        paused = ScanJob.objects.filter(status=Status.PAUSED, resumes_automatically=True, library__isnull=False)
        for job in [*paused, *(j for j in self._would_pause if j.resumes_automatically)]:
            delay = retry_delay(job.auto_resume_attempts)
            self._decide(job, "auto_resumed", "would resume it automatically",
                         partial(lifecycle.auto_resume, job, delay=delay))

    def _remove_dead_workers(self) -> None:
        """Worker rows of processes that are gone, while they still are; their jobs were handled above."""
        for pk, death in self.dead.items():
            if not self.dry_run and not workers.remove_dead(pk, still_dead=death.still_dead):
                continue
            label = self.workers[pk].label
            self.report.decisions.append(Decision("worker_removed", None, None,
                                                  f"Removed the row of dead worker {label}"))

    # ----------------------------------------------------------------- judgement
    def _death_of_owner(self, job: ScanJob) -> Death | None:
        """Why the job's owner cannot be running it (and how to re-check that), or None if it may be."""
        if job.owner is None:
            return Death("it has no owner", Q())
        if self.worker is not None and job.owner == self.worker.pk:
            # This process claims nothing while it recovers: its live threads are exact.
            return None if job.pk in self.live_job_ids else Death("its scan thread in this process ended", Q())
        if job.owner not in self.workers:
            # Its row was gone when we looked; it must still be gone when we write, or this is
            # a worker that registered after our look.
            return Death("its server process is gone", ~Exists(Worker.objects.filter(pk=job.owner)))
        return self.dead.get(job.owner)

    # ----------------------------------------------------------------- acting
    def _decide(self, job: ScanJob, action: str, dry_message: str,
                write: Callable[[], ScanJob | None]) -> ScanJob | None:
        """Have the lifecycle make the change (None: somebody changed the job first), and report it."""
        if self.dry_run:
            self.report.decisions.append(Decision(action, job.pk, job.library_id, dry_message))
            return job
        self.interleave(job)
        changed = write()
        if changed is not None:
            self.report.decisions.append(Decision(action, job.pk, job.library_id, changed.status_message))
        return changed


def recover_scans(**kwargs) -> RecoveryReport:
    """Run one recovery pass; see Recovery for the arguments."""
    return Recovery(**kwargs).run()
