"""Prometheus metrics at /metrics, derived from the database at each scrape.

Counting in the database rather than in each process's memory makes every gunicorn worker
and every host give the same, complete answer (no multiprocess directory to manage).
Counters are sums over the retained scan history, so pruning old scans shows as a counter
reset, which Prometheus' rate() handles.
"""

from __future__ import annotations

from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.db.models.functions import Now
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from scanner.models import ScanEvent, ScanJob, Worker

DURATION_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)  # seconds
RECONCILE_FIXES = ("orphaned", "auto_resumed", "superseded", "library_gone", "thread_stopped")


class DatabaseCollector:
    def collect(self):
        by_status = dict(ScanJob.objects.values_list("status").annotate(n=Count("id")))
        jobs = GaugeMetricFamily("mediaserver_scan_jobs", "Scan jobs by status", labels=["status"])
        for status in ScanJob.Status.values:
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs
        yield GaugeMetricFamily("mediaserver_scans_running", "Scans running now", value=by_status.get("running", 0))

        processed = ScanJob.objects.aggregate(files=Sum("files_processed"), bytes=Sum("bytes_processed"))
        yield CounterMetricFamily("mediaserver_scan_files_processed", "Files processed by scans",
                                  value=processed["files"] or 0)
        yield CounterMetricFamily("mediaserver_scan_bytes_processed", "Bytes of files processed by scans",
                                  value=processed["bytes"] or 0)
        yield self._durations()

        fixes = dict(ScanEvent.objects.filter(kind__in=RECONCILE_FIXES).values_list("kind").annotate(n=Count("id")))
        family = CounterMetricFamily("mediaserver_reconcile_fixes", "Recovery and reconcile fixes", labels=["kind"])
        for kind in RECONCILE_FIXES:
            family.add_metric([kind], fixes.get(kind, 0))
        yield family

        ages = GaugeMetricFamily("mediaserver_worker_heartbeat_age_seconds",
                                 "Seconds since each worker's last heartbeat, by the database clock",
                                 labels=["worker", "kind"])
        for worker in Worker.objects.annotate(
            age=ExpressionWrapper(Now() - F("heartbeat_at"), output_field=DurationField())
        ):
            ages.add_metric([worker.label, worker.kind], max(0.0, worker.age.total_seconds()))
        yield ages

    def _durations(self) -> HistogramMetricFamily:
        seconds = [
            (done - started).total_seconds()
            for started, done in ScanJob.objects.filter(status=ScanJob.Status.COMPLETED, started_at__isnull=False)
            .values_list("started_at", "completed_at")
            if started is not None and done is not None  # a completed job has both; without them: no duration
        ]
        buckets = [(str(float(le)), sum(1 for s in seconds if s <= le)) for le in DURATION_BUCKETS]
        buckets.append(("+Inf", len(seconds)))
        return HistogramMetricFamily("mediaserver_scan_duration_seconds", "Duration of completed scans",
                                     buckets=buckets, sum_value=sum(seconds))


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
