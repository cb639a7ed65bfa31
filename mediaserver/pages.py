"""The web pages: server-rendered; JavaScript (static/js/scans.js) only refreshes progress."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from libraries import folders
from libraries.filters import MediaFileFilter
from libraries.models import Library, MediaFile
from libraries.selectors import mark_albums_with_discs
from scanner.filters import ScanEventFilter
from scanner.jobs import selectors
from scanner.jobs.schedule import with_next_scan
from scanner.models import ScanEvent, ScanJob

FILES_PER_PAGE = 100
HISTORY_LENGTH = 20
EVENTS_PER_PAGE = 100


def _with_files_count(queryset):
    """Libraries with their catalogued files counted, their changes waiting for a scan, and their watch."""
    return selectors.with_changes_waiting(queryset).annotate(files_count=Count("files", filter=Q(files__missing=False)))


@login_required
def dashboard(request):
    scheduled = ScanJob.objects.filter(library=OuterRef("pk"), trigger=ScanJob.Trigger.SCHEDULE)
    libraries = with_next_scan(_with_files_count(Library.objects.all())).annotate(
        last_scheduled_at=Subquery(scheduled.order_by("-created_at").values("created_at")[:1]))
    cards = [{"library": library, "job": selectors.library_scan_status(library.pk),
              "interval_hours": _hours(library.scan_interval)} for library in libraries]
    return render(request, "dashboard.html", {"cards": cards, "kinds": Library.Kind.choices})


def _hours(interval) -> str:
    """A scan interval as the card's form shows it, in hours ("6", "1.5"); "" for none."""
    return "" if interval is None else f"{interval.total_seconds() / 3600:g}"


@login_required
def library_detail(request, pk: int):
    library = get_object_or_404(_with_files_count(Library.objects.all()), pk=pk)
    found = MediaFileFilter(request.GET, queryset=MediaFile.objects.filter(library=library).order_by("path"))
    files = found.qs if found.is_valid() else MediaFile.objects.none()
    page = Paginator(files, FILES_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    mark_albums_with_discs(library=library, files=page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "library.html", {
        "library": library,
        "job": selectors.library_scan_status(library.pk),
        "filters": found,
        "page": page,
        "query": query.urlencode(),
        "history": selectors.jobs_of_library(library.pk)[:HISTORY_LENGTH],
        "kinds": MediaFile.Kind.choices,
    })


@login_required
def library_watch_state(request, pk: int):
    """The library's watch line alone, for the pages' script to refresh it as it is rendered (every
    few seconds per card: its changes and watch, not the catalogue's count)."""
    library = get_object_or_404(selectors.with_changes_waiting(Library.objects.all()), pk=pk)
    return render(request, "watch_state.html", {"library": library})


@login_required
def job_detail(request, pk: int):
    job = get_object_or_404(ScanJob.objects.select_related("library"), pk=pk)
    return render(request, "job.html", {"job": job, "events": job.events.order_by("created_at", "id")})


@login_required
def library_browse(request, pk: int):
    library = get_object_or_404(Library, pk=pk)
    folder = folders.normalise(request.GET.get("folder", ""))
    if "\x00" in folder:  # no catalogued path holds one, and PostgreSQL refuses it in a query
        raise Http404("No such folder")
    parts = folder.split("/") if folder else []
    crumbs = [(name, "/".join(parts[:i + 1])) for i, name in enumerate(parts)]
    return render(request, "browse.html", {
        "library": library, "folder": folder, "crumbs": crumbs, "contents": folders.contents(library.pk, folder),
        "files_shown": folders.FILES_SHOWN,
    })


@login_required
def activity(request):
    """What happened across every library, newest first: "what happened while I was away"."""
    found = ScanEventFilter(request.GET, queryset=ScanEvent.objects.select_related("job__library")
                            .order_by("-created_at", "-id"))
    events = found.qs if found.is_valid() else ScanEvent.objects.none()
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "activity.html", {
        "page": Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page")),
        "filters": found,
        "query": query.urlencode(),
        "libraries": Library.objects.order_by("name", "id"),
    })
