"""The API as its docs describe it (issue 26, item 5): GET /api/ lists the endpoints; a start path
that is nowhere is a 400 naming it in {"paths": [...]}; Swagger's example is a real-looking
path; an invalid choice names the valid ones."""

import re
from pathlib import Path

import pytest

from libraries.models import MediaFile
from mediaserver.api_root import ENDPOINTS
from scanner.models import ScanJob
from tests.helpers import STAT_ONLY, run_job, scan_now

pytestmark = pytest.mark.django_db


def test_the_api_root_lists_every_endpoint_of_the_schema(user_client, anon_client):
    assert anon_client.get("/api/").status_code == 401
    answer = user_client.get("/api/")
    assert answer.status_code == 200
    listed = {endpoint["path"]: endpoint["methods"] for endpoint in answer.json()["endpoints"]}
    assert listed["/api/scanner/start/{library_id}/"] == ["POST"]
    schema = user_client.get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        if path != "/api/":
            assert path in listed, f"{path} is missing from GET /api/"
            assert {op.upper() for op in operations} == set(listed[path]), path
    assert len(listed) == len(ENDPOINTS)
    for path in listed:  # those a logged-in user reads (the Jellyfin-compatible ones want a hook's key)
        if path.startswith("/api/") and "{" not in path and "GET" in listed[path]:
            assert user_client.get(path).status_code == 200, path


def test_a_start_path_that_is_nowhere_is_a_400_naming_it(staff_client, make_library):
    library = make_library()
    (Path(library.path) / "Artist/Album").mkdir(parents=True)
    answer = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": ["Artist/Album", "Artsit"]},
                               format="json")
    assert answer.status_code == 400
    assert answer.json() == {"paths": ["Not in the library, on disk or in its catalogue: Artsit"]}
    swagger = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": ["string"]}, format="json")
    assert swagger.status_code == 400 and "string" in swagger.json()["paths"][0]
    assert not ScanJob.objects.filter(library=library).exists()


def test_a_deleted_folder_with_catalogued_files_is_a_scan_that_marks_them_missing(staff_client, make_library):
    library = make_library()
    album = Path(library.path) / "Artist/Album"
    album.mkdir(parents=True)
    (album / f"01.{STAT_ONLY}").write_bytes(b"1")
    (Path(library.path) / f"Artist/other.{STAT_ONLY}").write_bytes(b"2")
    scan_now(library)
    (album / f"01.{STAT_ONLY}").unlink()
    album.rmdir()

    answer = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": ["Artist/Album"]}, format="json")
    assert answer.status_code == 201, answer.content

    job = run_job(ScanJob.objects.get(pk=answer.json()["id"]))
    assert (job.status, job.files_missing) == ("completed", 1)
    assert MediaFile.objects.get(path=f"Artist/Album/01.{STAT_ONLY}").missing
    assert not MediaFile.objects.get(path=f"Artist/other.{STAT_ONLY}").missing


def test_other_bad_start_paths_are_field_errors_too(staff_client, make_library):
    library = make_library()
    answer = staff_client.post(f"/api/scanner/start/{library.pk}", {"paths": ["../elsewhere"]}, format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["paths"] and "'..'" in answer.json()["paths"][0]


def test_swagger_tries_out_a_real_looking_path_not_string(user_client):
    schema = user_client.get("/api/schema/?format=json").json()
    body = schema["paths"]["/api/scanner/start/{library_id}/"]["post"]["requestBody"]["content"]["application/json"]
    examples = [example["value"] for example in body["examples"].values()]
    assert {"paths": ["Artist/Album", "Films/Heat (1995).mkv"]} in examples
    assert "string" not in str(examples)


def test_an_invalid_choice_names_the_valid_ones(staff_client, make_library):
    library = make_library()
    created = staff_client.post("/api/libraries/", {"name": "x", "path": "/tmp", "kind": "film"}, format="json")
    assert created.status_code == 400
    assert created.json()["kind"] == ['"film" is not a valid kind: movies, tv, music, photos, mixed.']
    files = staff_client.get(f"/api/libraries/{library.pk}/files/?kind=film")
    assert files.status_code == 400 and files.json()["kind"] == ['"film" is not a valid kind: video, audio, image.']
    start = staff_client.post(f"/api/scanner/start/{library.pk}", {"mode": "slow"}, format="json")
    assert start.status_code == 400 and re.search(r'"slow" is not a valid mode: quick, full', str(start.json()))


def test_the_files_of_every_library_in_one_list(user_client, anon_client, make_library):
    music, films = make_library(name="Music"), make_library(name="Films")
    for library, names in ((music, ["b.heic", "a.heic"]), (films, ["c.heic"])):
        for name in names:
            (Path(library.path) / name).write_bytes(b"x")
        scan_now(library)

    every = user_client.get("/api/files/").json()
    assert every["count"] == 3
    assert [(f["library"], f["path"]) for f in every["results"]] == [(music.pk, "a.heic"), (music.pk, "b.heic"),
                                                                     (films.pk, "c.heic")]
    only = user_client.get(f"/api/files/?library={films.pk}&kind=image").json()
    assert [f["path"] for f in only["results"]] == ["c.heic"]
    assert user_client.get("/api/files/?search=A.HEIC").json()["count"] == 1
    assert user_client.get("/api/files/?library=films").status_code == 400
    assert user_client.get("/api/files/?kind=film").json() == {
        "kind": ['"film" is not a valid kind: video, audio, image.']}
    assert anon_client.get("/api/files/").status_code == 401
