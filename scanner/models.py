import uuid
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from libraries.models import Library


class Worker(models.Model):
    """One scanning process (a gunicorn worker, runserver, scanworker or `manage.py scan`).

    Created when the process starts, its heartbeat refreshed by the process, deleted on a
    clean shutdown. Liveness is judged by the database clock against `heartbeat_at`, and where
    this process can see the worker's pids (same host, same pid namespace) by the pid and the
    process start time (pids get reused).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hostname = models.CharField(max_length=255)
    pid_namespace = models.CharField(
        max_length=80, blank=True, default="", help_text="Boot id and pid namespace: who can check this pid"
    )
    pid = models.PositiveIntegerField()
    process_started = models.BigIntegerField(
        default=0, help_text="Process start time in clock ticks since boot (/proc/<pid>/stat), to detect pid reuse"
    )
    kind = models.CharField(max_length=32, default="server")
    # Both from the database clock: liveness is never judged by comparing hosts' clocks.
    started_at = models.DateTimeField(db_default=Now())
    heartbeat_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["hostname", "pid"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.hostname}:{self.pid}"


class ScanJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    OPEN_STATUSES = (Status.PENDING, Status.RUNNING, Status.PAUSED)

    class PauseReason(models.TextChoices):
        USER = "user"
        INTERRUPTED = "interrupted"
        SHUTDOWN = "shutdown"

    class Mode(models.TextChoices):
        QUICK = "quick"
        FULL = "full"

    class Trigger(models.TextChoices):
        """What created the job; it never changes (resumes are counted in resume_count)."""

        MANUAL = "manual"  # the API or a page
        COMMAND = "command"  # manage.py scan
        SCHEDULE = "schedule"  # the library's scan_interval
        WATCH = "watch"  # changes the watcher saw
        NOTIFY = "notify"  # changes a client notified (POST /api/scanner/changes)
        CATCH_UP = "catch_up", "Catch-up"  # what changed while nobody watched
        ADMIN = "admin"  # an admin action

    class Phase(models.TextChoices):
        QUEUED = "queued"
        DISCOVERING = "discovering"
        SCANNING = "scanning"
        DONE = "done"

    # Nullable so that a deleted library leaves its scan history behind.
    library = models.ForeignKey(Library, null=True, on_delete=models.SET_NULL, related_name="scan_jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    pause_reason = models.CharField(max_length=16, choices=PauseReason.choices, null=True, blank=True, default=None)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.QUICK)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.QUEUED)
    scope = models.JSONField(default=list, blank=True,
                             help_text="Relative paths a targeted scan covers, sorted; empty: the whole library")
    # A scope taken from pending changes is owed: it goes back to them if the job ends unfinished.
    from_changes = models.BooleanField(default=False, help_text="Its scope was taken from pending changes")
    change_failures = models.PositiveIntegerField(
        default=0, help_text="Scans of these changes that failed in a row before this one")

    files_found = models.PositiveBigIntegerField(default=0)
    files_processed = models.PositiveBigIntegerField(default=0)
    files_unchanged = models.PositiveBigIntegerField(default=0)
    files_added = models.PositiveBigIntegerField(default=0)
    files_updated = models.PositiveBigIntegerField(default=0)
    files_missing = models.PositiveBigIntegerField(default=0)
    files_moved = models.PositiveBigIntegerField(default=0, help_text="Files found at a new path, same row")
    files_failed = models.PositiveBigIntegerField(default=0)
    bytes_processed = models.PositiveBigIntegerField(default=0)
    dirs_failed = models.PositiveIntegerField(default=0, help_text="Folders that could not be read")
    progress = models.FloatField(default=0, help_text="Percent, 0-100; never goes backwards")
    files_per_second = models.FloatField(default=0, help_text="Rate of the current run, updated every batch")

    checkpoint = models.TextField(blank=True, default="", help_text="Last committed path; the walk resumes after it")
    owner = models.UUIDField(null=True, blank=True, help_text="Worker id of the process running this job")
    worker_name = models.CharField(max_length=300, blank=True, default="", help_text="hostname:pid of the owner")
    lease_token = models.PositiveBigIntegerField(default=0, help_text="Incremented on every claim (fencing token)")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    status_message = models.TextField(blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    resume_count = models.PositiveIntegerField(default=0)
    # Decided when the job is paused (scanner/jobs/resume_policy.py), so recovery only acts on it.
    resumes_automatically = models.BooleanField(
        default=False, help_text="Paused by a restart or an outage; recovery may resume it by itself"
    )
    auto_resume_attempts = models.PositiveIntegerField(
        default=0, help_text="Automatic resumes in a row since the checkpoint last moved"
    )

    # The database's clock, as every time a decision compares (a schedule, a retry delay).
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["library"],
                condition=Q(status__in=["pending", "running", "paused"]),
                name="scanjob_one_open_job_per_library",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=100), name="scanjob_progress_0_100"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="scanjob_status_created"),
            models.Index(fields=["owner", "status"], name="scanjob_owner_status"),
            models.Index(fields=["library", "-created_at"], name="scanjob_library_created"),
        ]

    def __str__(self) -> str:
        return f"Scan #{self.pk} of {self.library or 'a deleted library'} ({self.status})"

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the stored rate; None when not running or the rate is unknown."""
        if self.status != self.Status.RUNNING or self.files_per_second <= 0 or not self.files_found:
            return None
        remaining = max(0, self.files_found - self.files_processed)
        return round(remaining / self.files_per_second, 1)


class ScanEvent(models.Model):
    """The audit trail: one row per decision about a job (claimed, paused, orphaned, ...)."""

    job = models.ForeignKey(ScanJob, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(db_default=Now())
    kind = models.CharField(max_length=32)
    message = models.TextField()
    worker = models.CharField(max_length=300, blank=True, default="", help_text="hostname:pid that decided")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["job", "created_at"], name="scanevent_job_created")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class PendingChange(models.Model):
    """A path of a library that changed (a notification, or the watcher) and awaits a targeted
    scan. Written before the change is acknowledged; deleted in the transaction that queues the
    scan covering it (scanner/jobs/changes.py), so a crash in between loses nothing."""

    class Trigger(models.TextChoices):
        WATCH = "watch"
        NOTIFY = "notify"
        CATCH_UP = "catch_up", "Catch-up"

    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="pending_changes")
    path = models.TextField(help_text="Relative to the library root; empty: the whole library")
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    created_at = models.DateTimeField(db_default=Now(), help_text="When it was (last) noted")
    failures = models.PositiveIntegerField(default=0, help_text="Scans of it that failed in a row")
    wait = models.DurationField(default=timedelta(0), help_text="Not scanned until this long after created_at")
    reason = models.TextField(blank=True, default="", help_text="Why it waits, when it does")

    class Meta:
        ordering = ["id"]
        # One row per place: a change noted again while it waits (a user-paused scan holds it,
        # a watcher flushes the same folder) adds nothing.
        constraints = [models.UniqueConstraint(fields=["library", "path"], name="pendingchange_one_per_path")]

    def __str__(self) -> str:
        return f"{self.path or '(whole library)'} ({self.trigger})"


class LibraryWatch(models.Model):
    """The lease on watching one library: held by one live scanning process at a time. Claimed
    by inserting the row; it goes with its worker's row (a clean exit, or recovery finding the
    process dead), so another process takes the watch over (scanner/runtime/watching.py)."""

    library = models.OneToOneField(Library, on_delete=models.CASCADE, primary_key=True, related_name="watcher")
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="watches")
    started_at = models.DateTimeField(db_default=Now())
    partial = models.BooleanField(default=False, help_text="Only part of the library is watched (a kernel limit)")
    note = models.TextField(blank=True, default="", help_text="Why the watch is partial, and what covers the rest")

    class Meta:
        verbose_name_plural = "library watches"  # Django would say "library watchs"

    def __str__(self) -> str:
        return f"{self.library} watched by {self.worker}"
