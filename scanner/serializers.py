from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from scanner.core.scope import MAX_PATHS
from scanner.models import ScanEvent, ScanJob

MAX_CHANGED_PATHS = 10_000  # paths in one notification
SCOPE_SHOWN = 20  # paths of a job's scope in an answer


class JobSerializer(serializers.ModelSerializer):
    """The Job object of the API contract (DESIGN.md 6)."""

    worker = serializers.SerializerMethodField(help_text='"hostname:pid" of the process running the job, or null')
    scope = serializers.SerializerMethodField(
        help_text=f"The first {SCOPE_SHOWN} paths a targeted scan covers (relative, sorted); [] the whole library")
    scope_count = serializers.SerializerMethodField(help_text="How many paths the scope has in all")
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ScanJob
        fields = [
            "id", "library", "status", "pause_reason", "mode", "trigger", "scope", "scope_count", "phase",
            "files_found", "files_processed", "files_unchanged", "files_added", "files_updated", "files_missing",
            "files_moved", "files_failed", "bytes_processed", "dirs_failed", "progress", "files_per_second",
            "eta_seconds", "status_message", "error_message", "worker",
            "resume_count", "heartbeat_at", "created_at", "started_at", "resumed_at", "paused_at", "completed_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_worker(self, job: ScanJob) -> str | None:
        return job.worker_name or None

    def get_scope(self, job: ScanJob) -> list[str]:
        # A bounded summary: a scope of 1,000 long paths in every answer of a page polled each
        # second would be megabytes a second.
        return job.scope[:SCOPE_SHOWN]

    def get_scope_count(self, job: ScanJob) -> int:
        return len(job.scope)


class LibraryStatusSerializer(serializers.Serializer):
    library_id = serializers.IntegerField()
    job = JobSerializer(allow_null=True)


def choice_error(what: str, choices: list[str]) -> dict[str, Any]:
    """An invalid choice names the valid ones: '"film" is not a valid kind: movies, tv, music, ...'."""
    return {"invalid_choice": f'"{{input}}" is not a valid {what}: {", ".join(choices)}.'}


# Swagger's "Try it out" sends the first example: a real-looking one, never a scan of "string".
@extend_schema_serializer(examples=[
    OpenApiExample("The whole library, quick", value={}, request_only=True),
    OpenApiExample("Some folders and files", value={"paths": ["Artist/Album", "Films/Heat (1995).mkv"]},
                   request_only=True),
    OpenApiExample("The whole library, reading every file again", value={"mode": "full"}, request_only=True),
])
class StartScanSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ScanJob.Mode.choices, default=ScanJob.Mode.QUICK,
                                   error_messages=choice_error("mode", ScanJob.Mode.values))
    paths = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False), required=False, allow_empty=False, max_length=MAX_PATHS,
        help_text="Scan only these files and folders (relative to the library, or absolute inside it); each must "
                  "exist or have catalogued files under it (a deleted folder's files are then marked missing)",
    )


class ScanEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScanEvent
        fields = ["id", "job", "created_at", "kind", "message", "worker", "data"]
        read_only_fields = fields


class ActivityEventSerializer(ScanEventSerializer):
    """An event of the activity feed: with the library its scan was of (null once deleted)."""

    library = serializers.IntegerField(source="job.library_id", allow_null=True, read_only=True)

    class Meta(ScanEventSerializer.Meta):
        fields = ["id", "job", "library", "created_at", "kind", "message", "worker", "data"]
        read_only_fields = fields


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.BooleanField()
    scanner_enabled = serializers.BooleanField()
    worker = serializers.CharField(allow_null=True)
    scheduler_running = serializers.BooleanField()
    running_scans = serializers.IntegerField()


class ChangesSerializer(serializers.Serializer):
    paths = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True), allow_empty=False,
        max_length=MAX_CHANGED_PATHS,
        help_text="Absolute paths of files or folders that changed (new, changed or deleted)",
    )


class QueuedChangeSerializer(serializers.Serializer):
    library = serializers.IntegerField()
    path = serializers.CharField(help_text="Relative to the library root")


class IgnoredChangeSerializer(serializers.Serializer):
    path = serializers.CharField()
    reason = serializers.CharField()


class ChangesAnswerSerializer(serializers.Serializer):
    queued = QueuedChangeSerializer(many=True)
    ignored = IgnoredChangeSerializer(many=True)


class ArrIgnoredSerializer(serializers.Serializer):
    path = serializers.CharField(required=False, help_text="A path inside no library, after SCANNER_PATH_MAP")
    event = serializers.CharField(required=False, help_text="An event that changes no file")
    reason = serializers.CharField()


class ArrAnswerSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="The eventType received")
    queued = QueuedChangeSerializer(many=True)
    ignored = ArrIgnoredSerializer(many=True)
