"""Who may do what: anonymous sees nothing, users read, staff change (DESIGN.md 6)."""

import pytest

from scanner.models import ScanJob
from tests.helpers import api_client, make_operator

pytestmark = pytest.mark.django_db

READS = [
    "/api/libraries/", "/api/libraries/{lib}/", "/api/libraries/{lib}/files/", "/api/scanner/status/{lib}",
    "/api/scanner/jobs/", "/api/scanner/jobs/{job}/", "/api/scanner/jobs/{job}/events/", "/api/schema/",
    "/api/docs/",
]
WRITES = [
    ("post", "/api/libraries/", lambda t: {"name": "New", "path": str(t), "kind": "mixed"}, 201),
    ("patch", "/api/libraries/{lib}/", lambda t: {"name": "Renamed"}, 200),
    ("post", "/api/scanner/start/{lib}", lambda t: None, 201),
    ("post", "/api/scanner/pause/{busy}", lambda t: None, 200),
    ("post", "/api/scanner/resume/{lib}", lambda t: None, 201),
    ("post", "/api/scanner/cancel/{busy}", lambda t: None, 200),
    ("delete", "/api/libraries/{lib}/", lambda t: None, 204),
]


@pytest.fixture
def ids(make_library):
    library, busy = make_library(), make_library()
    job = ScanJob.objects.create(library=busy, status="running")
    return {"lib": library.pk, "busy": busy.pk, "job": job.pk}


@pytest.mark.parametrize("url", READS)
def test_anonymous_sees_nothing(anon_client, ids, url):
    assert anon_client.get(url.format(**ids)).status_code == 401


@pytest.mark.parametrize("method, url, body, _", WRITES)
def test_anonymous_changes_nothing(anon_client, ids, tmp_path, method, url, body, _):
    response = getattr(anon_client, method)(url.format(**ids), body(tmp_path), format="json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("url", READS)
def test_users_read_everything(user_client, ids, url):
    assert user_client.get(url.format(**ids)).status_code == 200


@pytest.mark.parametrize("method, url, body, _", WRITES)
def test_users_change_nothing(user_client, ids, tmp_path, method, url, body, _):
    response = getattr(user_client, method)(url.format(**ids), body(tmp_path / "new"), format="json")
    assert response.status_code == 403
    assert ScanJob.objects.filter(status="running").count() == 1


@pytest.mark.parametrize("method, url, body, expected", WRITES)
def test_staff_change_things(staff_client, ids, tmp_path, method, url, body, expected):
    (tmp_path / "new").mkdir()
    response = getattr(staff_client, method)(url.format(**ids), body(tmp_path / "new"), format="json")
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("method, url, body, _", WRITES)
def test_staff_without_model_permissions_change_nothing(django_user_model, ids, tmp_path, method, url, body, _):
    """The admin refuses a staff user without permissions: so does the API."""
    bare = api_client(django_user_model.objects.create_user("bare", is_staff=True))
    (tmp_path / "new").mkdir()
    response = getattr(bare, method)(url.format(**ids), body(tmp_path / "new"), format="json")
    assert response.status_code == 403 and "permission" in response.json()["detail"]
    assert ScanJob.objects.filter(status="running").count() == 1
    assert bare.get(url.format(**ids)).status_code in (200, 405), "reading needs no model permission"


def test_each_model_permission_opens_only_its_own_door(django_user_model, ids, tmp_path):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("scans-only", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_scanjob"))
    client = api_client(user)
    assert client.post(f"/api/scanner/start/{ids['lib']}").status_code == 201
    assert client.post("/api/libraries/", {"name": "New", "path": str(tmp_path), "kind": "mixed"},
                       format="json").status_code == 403
    assert client.delete(f"/api/libraries/{ids['lib']}/").status_code == 403

    other = django_user_model.objects.create_user("deleter", is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="delete_library"))
    client = api_client(other)
    assert client.post(f"/api/scanner/cancel/{ids['lib']}").status_code == 403
    assert client.delete(f"/api/libraries/{ids['lib']}/").status_code == 204


def test_session_login_works_for_the_browser(client, django_user_model, ids):
    django_user_model.objects.create_user("browser", password="a-long-pass-123")
    assert client.get("/api/libraries/").status_code in (401, 403)
    assert client.post("/accounts/login/", {"username": "browser", "password": "a-long-pass-123"}).status_code == 302
    assert client.get("/api/libraries/").status_code == 200


def test_session_posts_need_a_csrf_token(django_user_model, ids):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_operator("boss", password="a-long-pass-123"))
    response = browser.post(f"/api/scanner/start/{ids['lib']}", content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not ScanJob.objects.filter(library_id=ids["lib"]).exists()
