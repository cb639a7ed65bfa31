"""Activity: every library's scan events, newest first, through GET /api/scanner/events/ and
the Activity page (issue 26, item 4)."""

from datetime import UTC, datetime, timedelta

import pytest

from libraries.services import library_delete
from scanner.models import ScanEvent, ScanJob

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def happenings(make_library):
    """Events of two libraries and of a deleted one's scan, a minute apart, in this order."""
    music, films, gone = make_library(name="Music"), make_library(name="Films"), make_library(name="Gone")
    jobs = {library.name: ScanJob.objects.create(library=library, status="completed") for library in
            (music, films, gone)}
    story = [("Music", "started", "Starting quick scan"), ("Films", "paused", "Paused by user after 3 of 9 files"),
             ("Gone", "completed", "Scanned 1 file"), ("Music", "orphaned", "Interrupted (its process died)"),
             ("Films", "watch_partial", "the inotify limit was reached"), ("Music", "completed", "Scanned 2 files")]
    for minute, (name, kind, message) in enumerate(story):
        ScanEvent.objects.create(job=jobs[name], kind=kind, message=message,
                                 created_at=START + timedelta(minutes=minute))
    library_delete(library=gone)
    return music, films


def kinds(answer) -> list[str]:
    return [event["kind"] for event in answer.json()["results"]]


def test_the_feed_is_newest_first_across_libraries_with_each_event_s_library(user_client, happenings):
    music, films = happenings
    answer = user_client.get("/api/scanner/events/")
    assert answer.status_code == 200 and answer.json()["count"] == 6
    assert kinds(answer) == ["completed", "watch_partial", "orphaned", "completed", "paused", "started"]
    first = answer.json()["results"][0]
    assert (first["library"], first["message"], first["created_at"]) == (music.pk, "Scanned 2 files",
                                                                        "2026-01-02T12:05:00Z")
    assert answer.json()["results"][3]["library"] is None  # its library was deleted; its events stay


def test_the_feed_filters_by_library_and_kinds_and_pages(user_client, happenings):
    music, films = happenings
    assert kinds(user_client.get(f"/api/scanner/events/?library={films.pk}")) == ["watch_partial", "paused"]
    assert kinds(user_client.get("/api/scanner/events/?kind=paused,orphaned")) == ["orphaned", "paused"]
    assert kinds(user_client.get(f"/api/scanner/events/?library={music.pk}&kind=completed")) == ["completed"]
    paged = user_client.get("/api/scanner/events/?page_size=2&page=2").json()
    assert (paged["count"], [e["kind"] for e in paged["results"]]) == (6, ["orphaned", "completed"])
    assert paged["next"] and paged["previous"]


@pytest.mark.parametrize("query", ["library=music", "library=1.5", "library=0", "page=99"])
def test_a_bad_filter_is_a_400_or_404_with_a_reason(user_client, happenings, query):
    answer = user_client.get(f"/api/scanner/events/?{query}")
    assert answer.status_code in (400, 404) and answer.json(), answer.content


def test_anonymous_callers_see_nothing_and_nobody_writes(anon_client, staff_client, happenings):
    assert anon_client.get("/api/scanner/events/").status_code == 401
    answer = staff_client.post("/api/scanner/events/", {"kind": "x", "message": "x"}, format="json")
    assert answer.status_code in (403, 405)
    assert ScanEvent.objects.count() == 6


def test_the_activity_page_lists_what_happened(client, django_user_model, happenings):
    music, films = happenings
    assert client.get("/activity/").status_code == 302  # a login first
    client.force_login(django_user_model.objects.create_user("viewer"))

    html = client.get("/").content.decode()
    assert '<a href="/activity/">Activity</a>' in html
    page = client.get("/activity/").content.decode()
    assert "6 events, newest first" in page
    assert page.index("Scanned 2 files") < page.index("the inotify limit") < page.index("Starting quick scan")
    assert "a deleted library" in page and f'<a href="/libraries/{films.pk}/">Films</a>' in page
    only = client.get("/activity/", {"library": films.pk, "kind": "paused"}).content.decode()
    assert "1 event, newest first" in only and "Paused by user after 3 of 9 files" in only
    assert "Starting quick scan" not in only
    assert "library: " in client.get("/activity/", {"library": "music"}).content.decode()  # the reason, no 500
