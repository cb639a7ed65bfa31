"""Any-case search and filters find names in every script, on both databases (issue 26 §3):
the embedded SQLite default as much as PostgreSQL. Real tagged files, scanned."""

import unicodedata
from pathlib import Path

import pytest

from tests import media
from tests.helpers import scan_now

pytestmark = pytest.mark.django_db


def found(client, library, query: str) -> set[str]:
    response = client.get(f"/api/libraries/{library.pk}/files/?page_size=100&{query}")
    assert response.status_code == 200, response.content
    return {item["path"] for item in response.json()["results"]}


@pytest.fixture
def music(make_library):
    library = make_library(kind="music")
    root = Path(library.path)
    media.write_mp3(root / "Björk/Homogenic/Jóga.mp3", tags={
        "title": "Jóga", "artist": "Björk", "album": "Homogenic", "genre": "Électronique", "album_artist": "Björk"})
    media.write_mp3(root / "Sigur Rós/Ágætis byrjun/Svefn-g-englar.mp3", tags={
        "title": "Svefn-g-englar", "artist": "Sigur Rós", "genre": "Post-rock", "album_artist": "Sigur Rós"})
    media.write_mp3(root / "Мумий Тролль/Морская/Утекай.mp3", tags={
        "title": "Утекай", "artist": "Мумий Тролль", "genre": "Рок", "album_artist": "Мумий Тролль"})
    media.write_mp3(root / "Bjork Bjorkman/Other.mp3", tags={"title": "Other", "genre": "electronique"})
    # A folder named decomposed, as macOS writes names: "Ö" as "O" and a combining diaeresis.
    media.write_mp3(root / unicodedata.normalize("NFD", "Motörhead/Ace.mp3"), tags={"title": "Ace"})
    job = scan_now(library, metadata_workers=0)
    assert (job.status, job.files_added, job.files_failed) == ("completed", 5, 0), job.status_message
    return library


def test_search_ignores_case_in_every_script_and_keeps_accents(music, user_client):
    assert found(user_client, music, "search=BJÖRK") == {"Björk/Homogenic/Jóga.mp3"}
    assert found(user_client, music, "search=sigur rós") == {"Sigur Rós/Ágætis byrjun/Svefn-g-englar.mp3"}
    assert found(user_client, music, "search=МУМИЙ") == {"Мумий Тролль/Морская/Утекай.mp3"}
    assert found(user_client, music, "search=ÁGÆTIS") == {"Sigur Rós/Ágætis byrjun/Svefn-g-englar.mp3"}
    # Accents are significant: "bjork" is another name.
    assert found(user_client, music, "search=bjork") == {"Bjork Bjorkman/Other.mp3"}
    # Composed or decomposed, the same name.
    assert len(found(user_client, music, "search=MOTÖRHEAD")) == 1
    assert len(found(user_client, music, "search=" + unicodedata.normalize("NFD", "motörhead"))) == 1


def test_genre_and_album_artist_match_exactly_in_any_case(music, user_client):
    assert found(user_client, music, "genre=électronique") == {"Björk/Homogenic/Jóga.mp3"}
    assert found(user_client, music, "genre=ÉLECTRONIQUE") == {"Björk/Homogenic/Jóga.mp3"}
    assert found(user_client, music, "genre=рок") == {"Мумий Тролль/Морская/Утекай.mp3"}
    assert found(user_client, music, "genre=electronique") == {"Bjork Bjorkman/Other.mp3"}
    assert found(user_client, music, "genre=Électro") == set()  # exactly, not a part
    assert found(user_client, music, "album_artist=МУМИЙ ТРОЛЛЬ") == {"Мумий Тролль/Морская/Утекай.mp3"}
