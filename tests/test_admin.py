"""The Django admin goes through the same rules and services as the API."""

import io

import pytest
from django.core.management import call_command

from libraries.models import Library
from scanner.models import ScanJob

pytestmark = pytest.mark.django_db


def test_the_admin_applies_the_library_path_rules(admin_client, make_library, tmp_path):
    existing = make_library(name="Music")
    response = admin_client.post("/admin/libraries/library/add/",
                                 {"name": "Dup", "path": existing.path + "/", "kind": "music"})
    assert response.status_code == 200 and "already uses this folder" in response.content.decode()
    (tmp_path / "films").mkdir()
    response = admin_client.post("/admin/libraries/library/add/",
                                 {"name": "Films", "path": f"{tmp_path}/films/", "kind": "movies"})
    assert response.status_code == 302
    assert Library.objects.get(name="Films").path == str(tmp_path / "films")


def test_deleting_in_the_admin_ends_the_open_scan(admin_client, make_library):
    library = make_library()
    job = ScanJob.objects.create(library=library, status="running")
    response = admin_client.post(f"/admin/libraries/library/{library.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "failed"


def test_api_tokens_are_created_with_drf_create_token(django_user_model):
    django_user_model.objects.create_user("robot", is_staff=True)
    out = io.StringIO()
    call_command("drf_create_token", "robot", stdout=out)
    assert "Generated token" in out.getvalue()
