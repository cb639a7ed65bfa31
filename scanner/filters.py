"""Filters of the scan activity feed (GET /api/scanner/events/ and the Activity page)."""

import django_filters

from libraries.filters import IntegerFilter
from scanner.models import ScanEvent


class KindsFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """kind=paused,orphaned: any of these kinds."""


class ScanEventFilter(django_filters.FilterSet):
    library = IntegerFilter(field_name="job__library", min_value=1, label="Events of this library's scans")
    kind = KindsFilter(
        field_name="kind",
        label="Comma-separated kinds: queued, started, completed, failed, paused, orphaned, interrupted, resumed, "
              "auto_resumed, changes_kept, changes_gave_up, watch_partial, ...")

    class Meta:
        model = ScanEvent
        fields = ["library", "kind"]
