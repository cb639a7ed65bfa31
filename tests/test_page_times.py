"""Times in the reader's zone: pages in the server's TIME_ZONE (the host's by default), named;
the API in UTC (issue 26, item 2; DESIGN.md 6 and 7)."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from common.env import time_zone
from scanner.models import ScanEvent, ScanJob

NOON_UTC = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def etc_with(tmp_path: Path, *, timezone_file: str | None = None, localtime: str | None = None) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    if timezone_file is not None:
        (etc / "timezone").write_text(timezone_file + "\n")
    if localtime is not None:
        os.symlink(f"/usr/share/zoneinfo/{localtime}", etc / "localtime")
    return etc


def test_the_setting_names_a_zone(tmp_path):
    etc = etc_with(tmp_path, timezone_file="Europe/Paris")
    assert time_zone({"TIME_ZONE": "America/New_York"}, etc=etc) == "America/New_York"
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE must be an IANA time zone name.*'Mars/Olympus'"):
        time_zone({"TIME_ZONE": "Mars/Olympus"}, etc=etc)


@pytest.mark.parametrize("environ, timezone_file, localtime, zone", [
    ({}, "Europe/Paris", "Asia/Tokyo", "Europe/Paris"),  # Debian's file first
    ({}, None, "Asia/Tokyo", "Asia/Tokyo"),  # else the link systemd sets
    ({}, "not a zone", "Asia/Tokyo", "Asia/Tokyo"),
    ({"TZ": ":Australia/Sydney"}, "Europe/Paris", None, "Australia/Sydney"),  # the process's own TZ wins
    ({}, None, None, "UTC"),  # a bare container
])
def test_by_default_the_host_zone(tmp_path, environ, timezone_file, localtime, zone):
    assert time_zone(environ, etc=etc_with(tmp_path, timezone_file=timezone_file, localtime=localtime)) == zone


@pytest.fixture
def job_at_noon_utc(make_library):
    library = make_library(name="Music")
    job = ScanJob.objects.create(library=library, status="completed", started_at=NOON_UTC, completed_at=NOON_UTC,
                                 progress=100)
    ScanJob.objects.filter(pk=job.pk).update(created_at=NOON_UTC)
    ScanEvent.objects.create(job=job, kind="completed", message="Scanned 0 files", created_at=NOON_UTC)
    return library, job


@pytest.mark.django_db
def test_pages_show_times_in_the_server_zone_and_name_it(client, django_user_model, settings, job_at_noon_utc):
    settings.TIME_ZONE = "Asia/Kolkata"  # +05:30 all year
    library, job = job_at_noon_utc
    client.force_login(django_user_model.objects.create_user("viewer"))

    job_page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<time datetime="2026-01-02T12:00:00+00:00" title="Asia/Kolkata">2026-01-02 17:30:00 IST</time>' in job_page
    assert "Times are in Asia/Kolkata" in job_page
    history = client.get(f"/libraries/{library.pk}/").content.decode()
    assert history.count(">2026-01-02 17:30:00 IST</time>") == 2  # started and finished


@pytest.mark.django_db
def test_the_api_stays_in_utc(user_client, settings, job_at_noon_utc):
    settings.TIME_ZONE = "America/New_York"
    _, job = job_at_noon_utc
    answer = user_client.get(f"/api/scanner/jobs/{job.pk}/").json()
    assert (answer["started_at"], answer["created_at"]) == ("2026-01-02T12:00:00Z", "2026-01-02T12:00:00Z")
    events = user_client.get(f"/api/scanner/jobs/{job.pk}/events/").json()["results"]
    assert events[0]["created_at"] == "2026-01-02T12:00:00Z"
