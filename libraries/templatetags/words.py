"""Counts, durations and times on the pages: counts said as the scan's own messages say them
(scanner/core/words.py), times in the server's TIME_ZONE with the zone named."""

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from scanner.core import words
from scanner.core.scope import describe_scope
from scanner.models import ScanJob

register = template.Library()


@register.filter
def count(n: int | None, noun: str) -> str:
    """{{ n|count:"file" }}: "1 file", "20,000 files"; a noun with an irregular plural as "noun,plural"."""
    singular, _, plural = noun.partition(",")
    return words.count(n or 0, singular, plural or None)


@register.filter
def thousands(n: int | None) -> str:
    """{{ n|thousands }}: "20,000"; "" for none."""
    return "" if n is None else f"{n:,}"


@register.filter
def hms(seconds: float | None) -> str:
    """{{ seconds|hms }}: "0:03:25", "2:01:09"."""
    return words.hms(seconds)


@register.filter
def when(moment: datetime | None) -> str:
    """{{ job.started_at|when }}: "2026-12-07 20:30:02 CET" in TIME_ZONE, in a <time> element
    holding the UTC instant; "–" for none."""
    if moment is None:
        return "–"
    local = timezone.localtime(moment)
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.astimezone(UTC).isoformat(),
                       timezone.get_current_timezone_name(), local.strftime("%Y-%m-%d %H:%M:%S %Z"))


@register.filter
def last_scan(job: ScanJob | None) -> str:
    """The card's "watch: Artist/Album, 4 files, 2 min ago": what started the scan, what it covered,
    what it scanned and when it finished (or started, or was queued); static/js/scans.js says the same."""
    if job is None:
        return "never"
    what = describe_scope(job.scope) if job.scope else "the whole library"
    moment, how = ((job.completed_at, "") if job.completed_at else
                   (job.started_at, "started ") if job.started_at else (job.created_at, "queued "))
    when = how + words.ago((timezone.now() - moment).total_seconds())
    return f"{job.get_trigger_display().lower()}: {what}, {words.count(job.files_processed, 'file')}, {when}"
