"""Security hardening (issue 14): each finding of the security review, replayed."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework.authtoken.models import Token

from libraries.models import Library
from libraries.paths import is_within
from mediaserver.logging import KeyValueFormatter
from tests.helpers import make_operator
from tests.procs import Gunicorn

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/proc", "/sys/kernel", "/dev", "/run", "/etc", "/etc/ssl", "/boot"])
def test_system_folders_and_what_they_hold_are_not_libraries(staff_client, path):
    response = staff_client.post("/api/libraries/", {"name": "System", "path": path, "kind": "mixed"}, format="json")
    assert response.status_code == 400
    assert "System folders" in response.json()["path"][0] and "MEDIA_ROOTS" in response.json()["path"][0]


def test_password_resets_exist_only_with_a_mail_server(client, settings):
    settings.EMAIL_HOST = ""
    for url in ("/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/"):
        assert client.get(url).status_code == 404, url
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/accounts/password_change/").status_code == 302, "a password change needs a login"

    settings.EMAIL_HOST = "mail.home.lan"
    assert client.get("/accounts/password_reset/").status_code == 200


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_a_bad_host_header_is_one_warning_line_without_a_traceback(client):
    logger = logging.getLogger("django.security.DisallowedHost")
    records = Records()
    logger.addHandler(records)
    try:
        assert client.get("/", HTTP_HOST="evil.example.com").status_code == 400
    finally:
        logger.removeHandler(records)
    assert [(r.levelname, r.exc_info) for r in records.records] == [("WARNING", None)]
    line = KeyValueFormatter().format(records.records[0])
    assert "\n" not in line and "evil.example.com" in line and "level=WARNING" in line


@pytest.mark.parametrize("body, status", [
    ("[" * 100_000 + "]" * 100_000, 400),  # nested too deep for the JSON parser
    ('{"name": "' + "x" * (20 * 1024 * 1024) + '"}', 413),  # 20 MB
    ('{"name": ', 400),  # cut short
])
def test_every_bad_api_body_is_answered_in_json(staff_client, body, status):
    response = staff_client.post("/api/libraries/", body, content_type="application/json")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json" and response.json()["detail"]


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_racing_creates_never_nest_libraries(tmp_path):
    """A folder and its sub-folder posted at the same moment to different workers: one wins."""
    token = Token.objects.create(user=make_operator("ops")).key
    server = Gunicorn(tmp_path, workers=3, env={"SCANNER_ENABLED": "false", "GUNICORN_ACCESSLOG": ""}).start(
        ready_path="/api/health/")
    try:
        for trial in range(30):
            parent = tmp_path / "media" / f"p{trial}"
            (parent / "inner").mkdir(parents=True)
            barrier = threading.Barrier(2)
            # Even trials create both; odd ones move an existing library into the sub-folder.
            mover = None
            if trial % 2:
                (tmp_path / "elsewhere" / str(trial)).mkdir(parents=True)
                status, mover = server.api("POST", "/api/libraries/", token, {
                    "name": f"M{trial}", "path": str(tmp_path / "elsewhere" / str(trial)), "kind": "mixed"})
                assert status == 201, mover

            def write(path, name, mover=mover):
                body = {"name": name, "path": str(path), "kind": "mixed"}
                barrier.wait()
                if mover and name.endswith("inner"):
                    return server.api("PATCH", f"/api/libraries/{mover['id']}/", token, {"path": str(path)})
                return server.api("POST", "/api/libraries/", token, body)

            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(write, [parent, parent / "inner"], [f"P{trial}", f"P{trial} inner"]))
            assert sorted(status for status, _ in answers) in ([200, 400], [201, 400]), (trial, answers)
            refused = next(body for status, body in answers if status == 400)
            assert "library" in refused["path"][0], refused
    finally:
        server.kill()
    paths = list(Library.objects.values_list("path", flat=True))
    assert len(paths) >= 30
    assert not [(a, b) for a in paths for b in paths if a != b and is_within(a, b)]
