"""The served app, through a real gunicorn as `make run` starts it."""

import re

import pytest

from tests.procs import Gunicorn, manage, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]


def test_gunicorn_serves_the_admin_login_with_its_stylesheet(tmp_path):
    collected = manage("collectstatic", "--noinput", "-v0", env=server_env(tmp_path))
    assert collected.returncode == 0, collected.stderr
    server = Gunicorn(tmp_path).start()
    try:
        status, body, _ = server.get("/admin/login/")
        assert status == 200 and b"Log in" in body
        stylesheet = re.search(rb'href="(/static/admin/css/base[^"]*\.css)"', body).group(1).decode()
        status, css, headers = server.get(stylesheet)
        assert status == 200 and headers["Content-Type"].startswith("text/css") and len(css) > 1000
    finally:
        server.stop()
