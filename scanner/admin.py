
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from scanner.conf import scanner_config
from scanner.core import words
from scanner.jobs import pending, services, workers
from scanner.jobs.recovery import recover_scans
from scanner.models import LibraryWatch, PendingChange, ScanEvent, ScanJob, Worker


def _control(modeladmin, request, queryset, verb: str, call) -> None:
    done = 0
    for library_id in {job.library_id for job in queryset if job.library_id}:
        try:
            call(library_id=library_id)
            done += 1
        except services.ScanControlError as exc:
            modeladmin.message_user(request, f"Library {library_id}: {exc}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{verb} {done} scan{'s' if done != 1 else ''}.", messages.SUCCESS)


@admin.action(description="Pause the selected scans", permissions=["change"])
def pause_scans(modeladmin, request, queryset):
    _control(modeladmin, request, queryset, "Paused", services.scan_pause)


@admin.action(description="Resume the selected scans", permissions=["change"])
def resume_scans(modeladmin, request, queryset):
    _control(modeladmin, request, queryset, "Resumed", services.scan_resume)


@admin.action(description="Cancel the selected scans", permissions=["change"])
def cancel_scans(modeladmin, request, queryset):
    _control(modeladmin, request, queryset, "Cancelled", services.scan_cancel)


@admin.action(description="Recover now (orphaned, duplicate and interrupted scans)", permissions=["change"])
def recover_now(modeladmin, request, queryset):
    report = recover_scans()
    for decision in report.decisions:
        modeladmin.message_user(request, f"{decision.action}: {decision.message}")
    if not report.decisions:
        modeladmin.message_user(request, report.skipped or "Nothing to recover: every open scan has a live owner.")


@admin.action(description="Retry the selected changes now (after repeated failures)", permissions=["change"])
def retry_changes(modeladmin, request, queryset):
    retried = pending.retry(queryset)
    modeladmin.message_user(request, f"{retried} change{'s' if retried != 1 else ''} will be scanned again.",
                            messages.SUCCESS)


class EventInline(admin.TabularInline):
    model = ScanEvent
    fields = ("created_at", "kind", "message", "worker")  # a tuple: mypy then also takes it as readonly_fields
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ScanJob)
class ScanJobAdmin(admin.ModelAdmin):
    # Folded so that the list fits a 1400 px window (tests/test_browser.py): the pause reason with
    # the status, the heartbeat with the worker, the last change as an age.
    list_display = ["id", "library", "state", "trigger", "progress_percent", "files", "worker", "updated"]
    list_filter = ["status", "library", "pause_reason", "mode", "trigger"]
    search_fields = ["library__name", "status_message", "error_message", "worker_name"]
    list_select_related = ["library"]
    actions = [pause_scans, resume_scans, cancel_scans, recover_now]
    inlines = [EventInline]

    def get_readonly_fields(self, request, obj=None):
        # Jobs change only through the services (the actions above), never by hand.
        return [f.name for f in ScanJob._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, job):
        return f"{job.progress:.1f}%"

    @admin.display(description="files")
    def files(self, job):
        return f"{job.files_processed:,} / {job.files_found:,}"

    @admin.display(description="status", ordering="status")
    def state(self, job):
        return f"{job.get_status_display()} ({job.pause_reason})" if job.pause_reason else job.get_status_display()

    @admin.display(description="worker · heartbeat age", ordering="worker_name")
    def worker(self, job):
        if job.heartbeat_at is None or job.status != ScanJob.Status.RUNNING:
            return job.worker_name or "–"
        return f"{job.worker_name} · {(timezone.now() - job.heartbeat_at).total_seconds():.0f} s"

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, job):
        return words.ago((timezone.now() - job.updated_at).total_seconds())


@admin.register(ScanEvent)
class ScanEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "job", "kind", "message", "worker"]
    list_filter = ["kind"]
    search_fields = ["message", "worker"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ScanEvent._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["label", "kind", "alive", "started_at", "heartbeat_at"]
    readonly_fields = ["id", "hostname", "pid_namespace", "pid", "process_started", "kind", "started_at",
                       "heartbeat_at"]

    def get_queryset(self, request):
        return workers.judged(super().get_queryset(request), timeout=scanner_config().worker_timeout)

    @admin.display(description="alive")
    def alive(self, worker):
        reason = workers.dead_reason(worker, stale=worker.stale)
        if reason is None:
            return format_html('<span style="color:{}">alive</span>', "#1f9d55")
        return format_html('<span style="color:#c8342c" title="{}">dead</span>', reason)

    def has_add_permission(self, request):
        return False


@admin.register(PendingChange)
class PendingChangeAdmin(admin.ModelAdmin):
    """Changed paths waiting for a scan; read-only (they are scanned by themselves), but for a
    person's retry of those that stopped after repeated failures."""

    list_display = ["created_at", "library", "path", "trigger", "failures", "wait", "reason"]
    list_filter = ["trigger", "library"]
    search_fields = ["path", "reason"]
    list_select_related = ["library"]
    actions = [retry_changes]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in PendingChange._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(LibraryWatch)
class LibraryWatchAdmin(admin.ModelAdmin):
    """Which process watches which library, and whether in part; leases come and go with their processes."""

    list_display = ["library", "worker", "started_at", "partial", "note"]
    list_filter = ["partial"]
    list_select_related = ["library", "worker"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LibraryWatch._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
