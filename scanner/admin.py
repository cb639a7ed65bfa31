from django.contrib import admin

from scanner.models import ScanEvent, ScanJob, Worker


@admin.register(ScanJob)
class ScanJobAdmin(admin.ModelAdmin):
    list_display = ["id", "library", "status", "pause_reason", "progress", "files_processed", "worker_name", "updated_at"]
    list_filter = ["status", "pause_reason", "library"]
    search_fields = ["library__name", "status_message", "error_message"]
    list_select_related = ["library"]


@admin.register(ScanEvent)
class ScanEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "job", "kind", "message", "worker"]
    list_filter = ["kind"]
    search_fields = ["message"]


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["hostname", "pid", "kind", "started_at", "heartbeat_at"]
