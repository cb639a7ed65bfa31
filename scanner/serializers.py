from rest_framework import serializers

from scanner.models import ScanEvent, ScanJob


class JobSerializer(serializers.ModelSerializer):
    """The Job object of the API contract (DESIGN.md 6)."""

    worker = serializers.SerializerMethodField(help_text='"hostname:pid" of the process running the job, or null')
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ScanJob
        fields = [
            "id", "library", "status", "pause_reason", "mode", "trigger", "phase", "files_found", "files_processed",
            "files_unchanged", "files_added", "files_updated", "files_missing", "files_failed", "bytes_processed",
            "dirs_failed", "progress", "files_per_second", "eta_seconds", "status_message", "error_message", "worker",
            "resume_count", "heartbeat_at", "created_at", "started_at", "resumed_at", "paused_at", "completed_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_worker(self, job: ScanJob) -> str | None:
        return job.worker_name or None


class LibraryStatusSerializer(serializers.Serializer):
    library_id = serializers.IntegerField()
    job = JobSerializer(allow_null=True)


class StartScanSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ScanJob.Mode.choices, default=ScanJob.Mode.QUICK)


class ScanEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScanEvent
        fields = ["id", "job", "created_at", "kind", "message", "worker", "data"]
        read_only_fields = fields


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.BooleanField()
    scanner_enabled = serializers.BooleanField()
    worker = serializers.CharField(allow_null=True)
    scheduler_running = serializers.BooleanField()
    running_scans = serializers.IntegerField()
