from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from mediaserver.api_policy import CanControlScans
from mediaserver.throttling import AnonRateThrottle
from scanner import metrics
from scanner.conf import scanner_config
from scanner.filters import ScanEventFilter
from scanner.jobs import changes, services
from scanner.models import ScanEvent, ScanJob
from scanner.runtime.entrypoints import current_runtime
from scanner.serializers import (
    ActivityEventSerializer,
    ChangesAnswerSerializer,
    ChangesSerializer,
    HealthSerializer,
    JobSerializer,
    LibraryStatusSerializer,
    ScanEventSerializer,
    StartScanSerializer,
)

CONFLICT = OpenApiResponse(description='{"detail": ..., "job": Job} the scan state forbids it')
NOT_FOUND = OpenApiResponse(description="No such library")


class ScannerControlViewSet(viewsets.ViewSet):
    """Scan control by library id (never by job id): /api/scanner/<action>/<library_id>."""

    serializer_class = JobSerializer
    permission_classes = [CanControlScans]

    @extend_schema(request=StartScanSerializer, responses={201: JobSerializer, 200: JobSerializer, 409: CONFLICT,
                                                           404: NOT_FOUND})
    def start(self, request, library_id: str):
        """Start a scan of the library: no body a quick one, {"mode": "full"} one that reads every file
        again, {"paths": [...]} one of those files and folders only; a paused scan is resumed instead."""
        body = StartScanSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        result = services.scan_start(library_id=int(library_id), mode=body.validated_data["mode"],
                                     paths=body.validated_data.get("paths"))
        return _job_response(result.job, created=result.created)

    @extend_schema(request=None, responses={200: JobSerializer, 409: CONFLICT, 404: NOT_FOUND})
    def pause(self, request, library_id: str):
        """Pause the library's queued or running scan; it waits, with its checkpoint, for a resume."""
        return _job_response(services.scan_pause(library_id=int(library_id)))

    @extend_schema(request=None, responses={201: JobSerializer, 200: JobSerializer, 404: NOT_FOUND, 409: CONFLICT})
    def resume(self, request, library_id: str):
        """Resume the library's paused scan from its checkpoint; with none paused, start a quick one."""
        result = services.scan_resume(library_id=int(library_id))
        return _job_response(result.job, created=result.created)

    @extend_schema(request=None, responses={200: JobSerializer, 409: CONFLICT, 404: NOT_FOUND})
    def cancel(self, request, library_id: str):
        """Cancel the library's open (queued, running or paused) scan."""
        return _job_response(services.scan_cancel(library_id=int(library_id)))

    @extend_schema(responses={200: LibraryStatusSerializer, 404: NOT_FOUND})
    def status(self, request, library_id: str):
        """The library's open scan, else its latest, else null."""
        job = services.scan_status(library_id=int(library_id))
        return Response({"library_id": int(library_id), "job": JobSerializer(job).data if job else None})


class ChangesView(APIView):
    """Tell the server that paths changed (Sonarr, Radarr, Lidarr, autoscan-style tools): each is
    stored as a pending change of its library before the answer, then scanned by a targeted scan."""

    permission_classes = [CanControlScans]
    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "changes"

    @extend_schema(request=ChangesSerializer, responses={202: ChangesAnswerSerializer})
    def post(self, request):
        body = ChangesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        noted = changes.note_changes(body.validated_data["paths"])
        return Response({"queued": noted.queued, "ignored": noted.ignored}, status=status.HTTP_202_ACCEPTED)


def _job_response(job: ScanJob, *, created: bool = False) -> Response:
    return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema_view(
    list=extend_schema(description="Scan history, newest first; filter with ?library=<id>&status=<status>."),
    retrieve=extend_schema(description="One scan."),
)
class ScanJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Scan history and each scan's events."""

    queryset = ScanJob.objects.order_by("-created_at", "-id")
    serializer_class = JobSerializer
    filterset_fields = ["library", "status"]
    lookup_value_regex = "[0-9]{1,18}"

    @extend_schema(responses=ScanEventSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], serializer_class=ScanEventSerializer, filter_backends=[])
    def events(self, request, pk=None):
        """The scan's events, oldest first: what happened to it, and which process decided."""
        job = get_object_or_404(ScanJob, pk=pk)
        page = self.paginate_queryset(job.events.order_by("created_at", "id"))
        return self.get_paginated_response(ScanEventSerializer(page, many=True).data)


class ScanEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What happened across every library, newest first (a job's own events, oldest first, are at
    /api/scanner/jobs/{id}/events/): filter with ?library=<id> and ?kind=<kind>,<kind>."""

    queryset = ScanEvent.objects.select_related("job").order_by("-created_at", "-id")
    serializer_class = ActivityEventSerializer
    filterset_class = ScanEventFilter


class MetricsView(APIView):
    """Prometheus text exposition; scrape with `Authorization: Token <key>` of any user."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "text/plain"): OpenApiResponse(description="Prometheus text format")})
    def get(self, request):
        return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


class HealthView(APIView):
    """Liveness for probes and monitors; open to anonymous callers, and shows no library data."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            database = True
        except DatabaseError:
            database = False
        runtime = current_runtime()
        body = {
            "status": "ok" if database else "unavailable",
            "database": database,
            "scanner_enabled": scanner_config().enabled,
            "worker": str(runtime.identity.worker.pk) if runtime and runtime.identity.worker else None,
            "scheduler_running": bool(runtime and runtime.scheduler_running),
            "running_scans": len(runtime.registry.running_job_ids()) if runtime else 0,
        }
        return Response(body, status=status.HTTP_200_OK if database else status.HTTP_503_SERVICE_UNAVAILABLE)
