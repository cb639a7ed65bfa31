"""The OpenAPI schema tells each operation's errors, its own description and every filter
(issue 26: "the API as its docs describe it")."""

import pytest

from libraries.filters import CatalogueFilter, MediaFileFilter

pytestmark = pytest.mark.django_db
WRITES = {"post", "put", "patch", "delete"}


@pytest.fixture
def schema(user_client):
    return user_client.get("/api/schema/?format=json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_lists_the_errors_it_can_answer(schema):
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        expected = {"429"}
        if path != "/api/health/":  # open to anonymous probes
            expected.add("401")
        if method in WRITES:
            expected.add("403")
        if method in WRITES - {"delete"}:
            expected.add("400")
        if "{" in path:
            expected.add("404")
        if path.startswith("/api/scanner/") and "{library_id}" in path and method == "post":
            expected.add("409")  # a scan changing state under the request
        assert expected <= codes, f"{method.upper()} {path} lacks {sorted(expected - codes)}"
    assert schema["components"]["schemas"]["Error"]["properties"] == {"detail": {"type": "string"}}


def test_each_operation_has_its_own_description(schema):
    # The Jellyfin/Emby-compatible paths are one view each answering as Jellyfin does, and the
    # webhook takes POST and PUT alike: the API's own paths each say what they do.
    descriptions = [(operation.get("description") or "") for path, method, operation in operations(schema)
                    if path.startswith("/api/") and method != "put"]
    assert all(descriptions) and len(set(descriptions)) == len(descriptions)
    assert "oldest first" in schema["paths"]["/api/scanner/jobs/{id}/events/"]["get"]["description"]
    assert "newest first" in schema["paths"]["/api/scanner/events/"]["get"]["description"]


@pytest.mark.parametrize("path, filters", [("/api/libraries/{id}/files/", MediaFileFilter),
                                           ("/api/files/", CatalogueFilter)])
def test_every_files_filter_is_documented(schema, path, filters):
    documented = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
    assert set(filters.base_filters) <= documented, set(filters.base_filters) - documented


def test_the_documented_errors_are_the_ones_given(user_client, anon_client, make_library):
    library = make_library()
    assert anon_client.get("/api/scanner/jobs/").status_code == 401
    assert user_client.get("/api/scanner/jobs/?page=9").status_code == 404
    assert user_client.get("/api/scanner/jobs/?status=nonsense").status_code == 400
    assert user_client.get(f"/api/libraries/{library.pk}/files/?min_width=wide").status_code == 400
    assert user_client.post(f"/api/scanner/start/{library.pk}").status_code == 403
