"""Security hardening (issue 14): each finding of the security review, replayed."""

import logging

import pytest

from mediaserver.logging import KeyValueFormatter

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
