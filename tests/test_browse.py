"""Browse by folder (issue 26 §1): the catalogue folder by folder, with counts, for a library
too large to read as one flat table."""

import re
from pathlib import Path

import pytest
from django.test import Client

from libraries.models import MediaFile
from tests.helpers import STAT_ONLY, scan_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(make_library):
    library = make_library(name="Music")
    root = Path(library.path)
    files = ["Artist/Album/01.x", "Artist/Album/02.x", "Artist/Single.x", "Artist 2/Album/01.x", "artist/lower.x",
             "Top.x", "Björk/Homogenic/Jóga.x"]
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel.replace(".x", f".{STAT_ONLY}")).write_bytes(b"x")
    scan_now(library, metadata_workers=0)
    (root / f"Artist/Album/02.{STAT_ONLY}").unlink()
    scan_now(library, metadata_workers=0)  # 02 is missing now
    return library


def rows(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table class="{table}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_library_folder_lists_its_folders_with_counts_and_its_own_files(viewer, library):
    response = viewer.get(f"/libraries/{library.pk}/browse/")
    assert response.status_code == 200
    html = response.content.decode()
    assert [row[:3] for row in rows(html, "folders")] == [
        ["Artist/", "3", "1 missing"], ["Artist 2/", "1", "–"], ["Björk/", "1", "–"], ["artist/", "1", "–"]]
    assert [row[0] for row in rows(html, "files")] == [f"Top.{STAT_ONLY}"]


def test_a_folder_shows_its_sub_folders_its_files_and_a_breadcrumb(viewer, library):
    html = viewer.get(f"/libraries/{library.pk}/browse/?folder=Artist").content.decode()
    # Only "Artist/": not "Artist 2/" beside it, nor "artist/" in another case.
    assert [row[:3] for row in rows(html, "folders")] == [["Album/", "2", "1 missing"]]
    assert [row[0] for row in rows(html, "files")] == [f"Single.{STAT_ONLY}"]
    assert f'href="/libraries/{library.pk}/browse/?folder=Artist/Album"' in html
    crumbs = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", re.search(r'<p class="crumbs">(.*?)</p>', html, re.S).group(1)))
    assert crumbs.strip() == "Libraries › Music › Folders › Artist"

    html = viewer.get(f"/libraries/{library.pk}/browse/?folder=/Artist/Album/").content.decode()
    assert rows(html, "folders") == [["No folders here."]]
    files = rows(html, "files")
    assert [row[0] for row in files] == [f"01.{STAT_ONLY}", f"02.{STAT_ONLY}"]
    assert files[1][-1] == "missing" and MediaFile.objects.get(path=f"Artist/Album/02.{STAT_ONLY}").missing

    html = viewer.get(f"/libraries/{library.pk}/browse/?folder=Björk").content.decode()
    assert [row[:2] for row in rows(html, "folders")] == [["Homogenic/", "1"]]


def test_only_staff_get_the_scan_buttons(viewer, admin_client, library):
    assert "data-scan-folder" not in viewer.get(f"/libraries/{library.pk}/browse/").content.decode()
    html = admin_client.get(f"/libraries/{library.pk}/browse/?folder=Artist").content.decode()
    assert 'data-scan-folder="Artist"' in html and 'data-scan-folder="Artist/Album"' in html


def test_browsing_needs_a_login_and_a_library(viewer, library):
    response = Client().get(f"/libraries/{library.pk}/browse/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert viewer.get("/libraries/999999/browse/").status_code == 404
    assert viewer.get(f"/libraries/{library.pk}/browse/?folder=a%00b").status_code == 404


def test_each_card_leads_to_its_folders(viewer, admin_client, library):
    assert f'<a href="/libraries/{library.pk}/browse/">Browse by folder</a>' in viewer.get("/").content.decode()
    staff_sees = admin_client.get("/").content.decode()
    assert f'<a href="/libraries/{library.pk}/browse/">Browse or scan a folder</a>' in staff_sees
