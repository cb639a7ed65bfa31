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

            def write(path, name, mover=mover, barrier=barrier):
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


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.processes
def test_the_database_and_secrets_are_private_to_the_server_user(tmp_path):
    """var/ and what it holds are the server user's alone: new installs, old ones, and the server's own files."""
    from tests.procs import manage, server_env

    var = tmp_path / "var"
    env = server_env(var, DATABASE_URL="")  # the embedded SQLite under var/
    assert manage("migrate", "-v0", env=env).returncode == 0
    assert _mode(var) == 0o700
    files = [var / "secret_key", var / "db.sqlite3", *var.glob("db.sqlite3-*")]
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}

    # An install from before this rule: loosened, then tightened by the next start.
    var.chmod(0o755)
    for path in files:
        path.chmod(0o644)
    (var / "db.sqlite3-wal").touch(mode=0o644)
    assert manage("check", env=env).returncode == 0
    assert _mode(var) == 0o700
    assert {p.name: _mode(p) for p in [*files, var / "db.sqlite3-wal"]} == {
        p.name: 0o600 for p in [*files, var / "db.sqlite3-wal"]}

    server = Gunicorn(var, env={"DATABASE_URL": "", "SCANNER_ENABLED": "false"}).start(ready_path="/api/health/")
    try:
        pids = [server.proc.pid, *map(int, _children(server.proc.pid))]
        umasks = {pid: _umask(pid) for pid in pids}
    finally:
        server.kill()
    assert set(umasks.values()) == {"0077"}, umasks


def _children(pid: int) -> list[str]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return handle.read().split()


def _umask(pid: int) -> str:
    with open(f"/proc/{pid}/status") as handle:
        return next(line.split()[1] for line in handle if line.startswith("Umask:"))


class AuthLog(Records):
    """The mediaserver.auth lines, formatted as they reach the log."""

    def __enter__(self):
        logging.getLogger("mediaserver.auth").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("mediaserver.auth").removeHandler(self)

    @property
    def lines(self) -> list[str]:
        return [KeyValueFormatter().format(record) for record in self.records]


def login(client, url: str, password: str, address: str = "192.0.2.7", username: str = "owner"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_ten_wrong_passwords_lock_that_user_out_from_that_address(client, django_user_model, url):
    from django.core.management import call_command

    django_user_model.objects.create_user("owner", password="the-right-pass-1", is_staff=True)
    with AuthLog() as log:
        answers = [login(client, url, f"guess-{n}").status_code for n in range(10)]
    assert answers == [200] * 9 + [429]
    assert len(log.lines) == 11  # ten failures and the lockout
    assert "event=login_failed" in log.lines[0] and "user=owner" in log.lines[0]
    assert "address=192.0.2.7" in log.lines[0] and "failures=1" in log.lines[0]
    assert "failures=10" in log.lines[-1] and "event=login_locked_out" in log.lines[-2]

    locked = login(client, url, "the-right-pass-1")
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session, "the right password does not log in while locked out"
    assert login(client, url, "the-right-pass-1", address="192.0.2.8").status_code == 302, "only that address"

    call_command("axes_reset")  # what the README tells the administrator to run
    client.logout()
    assert login(client, url, "the-right-pass-1").status_code == 302


def test_wrong_api_tokens_count_as_failed_logins_and_lock_that_address_out(client, settings, make_library):
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    settings.AXES_FAILURE_LIMIT = 5
    good = Token.objects.create(user=make_operator("ops")).key

    def get(token: str, address: str = "192.0.2.9", **headers):
        return client.get("/api/libraries/", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=address, **headers)

    with AuthLog() as log:
        answers = [get(f"wrong{n}").status_code for n in range(5)]
    assert answers == [401] * 4 + [429]
    assert "event=login_failed" in log.lines[0] and "user='(API token)'" in log.lines[0]
    assert "address=192.0.2.9" in log.lines[0] and "wrong" not in "".join(log.lines), "the token is not logged"
    locked = get("wrong99")
    assert locked.status_code == 429 and "wrong API token" in locked.json()["detail"] and locked["Retry-After"]
    assert get(good).status_code == 200, "a valid token is never refused (tests/test_login_guard.py)"
    assert get("wrong99", "192.0.2.10").status_code == 401, "only that address waits"
    assert get("wrong99", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429, "X-Forwarded-For is not trusted"
    call_command("axes_reset_username", "(API token)")
    assert get("wrong99").status_code == 401


def test_guessing_the_current_password_in_the_password_change_form_locks_out_too(client, django_user_model):
    user = django_user_model.objects.create_user("owner", password="the-right-pass-1")
    client.force_login(user)

    def change(old: str):
        return client.post("/accounts/password_change/", {"old_password": old, "new_password1": "N3w-long-pass-x",
                                                          "new_password2": "N3w-long-pass-x"}, REMOTE_ADDR="192.0.2.7")

    with AuthLog() as log:
        answers = [change(f"guess-{n}").status_code for n in range(10)]
    assert answers == [200] * 9 + [429] and "user=owner" in log.lines[0]
    refused = change("the-right-pass-1")
    assert refused.status_code == 200 and "Too many failed logins" in refused.content.decode()
    user.refresh_from_db()
    assert user.check_password("the-right-pass-1"), "the password was not changed"
    assert client.get("/admin/password_change/").url == "/accounts/password_change/"


def test_anonymous_api_requests_are_throttled(client):
    answers = [client.get("/api/health/", REMOTE_ADDR="192.0.2.11").status_code for _ in range(121)]
    assert answers == [200] * 120 + [429]
    assert client.get("/api/health/", REMOTE_ADDR="192.0.2.12").status_code == 200


def test_pages_carry_a_content_security_policy_and_a_permissions_policy(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]


def test_the_api_speaks_json_only(staff_client, anon_client):
    page = staff_client.get("/api/libraries/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert page["Content-Type"] == "application/json", "no browsable API page (its inline styles break the CSP)"
    broken = staff_client.post("/api/libraries/", "{", content_type="application/json", HTTP_ACCEPT="text/html,*/*")
    assert broken.status_code == 400 and broken["Content-Type"] == "application/json"
    upload = staff_client.post("/api/libraries/", {"name": "x", "file": ("big.bin", b"x" * 3_000_000)},
                               format="multipart")
    assert upload.status_code == 415
    assert staff_client.options("/api/docs/").status_code == 405


def test_an_oversized_body_is_one_warning_line_without_a_traceback(client):
    logger = logging.getLogger("django.security.RequestDataTooBig")
    records = Records()
    logger.addHandler(records)
    try:
        response = client.post("/accounts/login/", {"username": "x" * 3_000_000, "password": "y"})
    finally:
        logger.removeHandler(records)
    assert response.status_code == 400
    assert [(r.levelname, r.exc_info) for r in records.records] == [("WARNING", None)]
