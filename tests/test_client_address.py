"""Forged client addresses (issue 23, part 3): X-Forwarded-For is believed only from our proxies."""

import http.client
import ipaddress
import re
import urllib.parse

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from mediaserver.client_address import client_address
from mediaserver.proxies import trusted_proxy_networks
from tests.procs import Gunicorn, manage, server_env

pytestmark = pytest.mark.django_db

PROXY = "127.0.0.1"  # the default DJANGO_TRUSTED_PROXY_ADDRESSES are loopback's
DIRECT = "192.0.2.50"  # a client that reaches gunicorn without the proxy


@pytest.fixture
def behind_one_proxy(settings):
    """As DJANGO_HTTPS configures it: one reverse proxy (and, before issue 23, DRF's NUM_PROXIES=1)."""
    settings.TRUSTED_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    return settings


@pytest.mark.parametrize("hops, proxies, peer, forwarded, expected", [
    (0, "127.0.0.1", "127.0.0.1", "203.0.113.1", "127.0.0.1"),  # no proxy configured: the header is the client's words
    (1, "127.0.0.1", "127.0.0.1", "203.0.113.1", "203.0.113.1"),
    (1, "127.0.0.1", "127.0.0.1", "198.51.100.9, 203.0.113.1", "203.0.113.1"),  # what the client wrote is ignored
    (1, "127.0.0.1", "127.0.0.1", "", "127.0.0.1"),
    (1, "127.0.0.1", "10.0.0.2", "203.0.113.1", "10.0.0.2"),  # not our proxy: the header is not believed
    (1, "10.0.0.0/8", "10.0.0.2", "203.0.113.1", "203.0.113.1"),  # a network of proxies
    (1, "::1", "::1", "2001:DB8::7", "2001:db8::7"),
    (1, "", "127.0.0.1", "203.0.113.1", "127.0.0.1"),  # an empty list trusts nobody
    (1, "127.0.0.1", "127.0.0.1", "203.0.113.1 address=192.0.2.1", "127.0.0.1"),  # not an address: the proxy's
    (2, "127.0.0.1,10.0.0.0/8", "127.0.0.1", "198.51.100.9, 203.0.113.1, 10.0.0.3", "203.0.113.1"),
    # The second proxy passed on a request that did not come through the first: that sender is the client.
    (2, "127.0.0.1,10.0.0.0/8", "127.0.0.1", "198.51.100.9, 203.0.113.1", "203.0.113.1"),
])
def test_x_forwarded_for_is_believed_only_from_a_configured_proxy(settings, hops, proxies, peer, forwarded,
                                                                   expected):
    settings.TRUSTED_PROXIES = hops
    settings.TRUSTED_PROXY_NETWORKS = trusted_proxy_networks({"DJANGO_TRUSTED_PROXY_ADDRESSES": proxies})
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_the_trusted_proxy_addresses_are_read_from_the_environment():
    assert trusted_proxy_networks({}) == (ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("::1"))
    assert trusted_proxy_networks({"DJANGO_TRUSTED_PROXY_ADDRESSES": " 192.0.2.1, 10.0.0.0/8 ,"}) == (
        ipaddress.ip_network("192.0.2.1"), ipaddress.ip_network("10.0.0.0/8"))
    assert trusted_proxy_networks({"DJANGO_TRUSTED_PROXY_ADDRESSES": ""}) == ()
    for wrong in ("proxy.lan", "10.0.0.1/8", "*"):
        with pytest.raises(ImproperlyConfigured, match="DJANGO_TRUSTED_PROXY_ADDRESSES"):
            trusted_proxy_networks({"DJANGO_TRUSTED_PROXY_ADDRESSES": wrong})


def login(client, password: str, *, peer: str, forwarded: str, username: str = "owner"):
    return client.post("/accounts/login/", {"username": username, "password": password},
                       REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)


def test_a_fresh_forged_address_for_each_guess_does_not_escape_the_lockout(client, django_user_model,
                                                                          behind_one_proxy):
    django_user_model.objects.create_user("owner", password="the-right-pass-1")
    answers = [login(client, f"guess-{n}", peer=DIRECT, forwarded=f"203.0.113.{n}").status_code for n in range(30)]
    assert answers == [200] * 9 + [429] * 21
    assert login(client, "the-right-pass-1", peer=DIRECT, forwarded="203.0.113.99").status_code == 429


def test_failures_forged_from_the_owners_address_do_not_lock_the_owner_out(client, django_user_model,
                                                                           behind_one_proxy):
    django_user_model.objects.create_user("owner", password="the-right-pass-1")
    owner = "198.51.100.20"
    answers = [login(client, f"guess-{n}", peer=DIRECT, forwarded=owner).status_code for n in range(10)]
    assert answers == [200] * 9 + [429], "the guesses count against the address that sent them"
    assert login(client, "the-right-pass-1", peer=PROXY, forwarded=owner).status_code == 302


def test_a_forged_address_does_not_escape_the_api_throttle(client, behind_one_proxy):
    answers = [client.get("/api/health/", REMOTE_ADDR=DIRECT, HTTP_X_FORWARDED_FOR=f"203.0.113.{n % 250}").status_code
               for n in range(121)]
    assert answers == [200] * 120 + [429]
    # Clients behind the proxy are counted one by one.
    assert client.get("/api/health/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200


class Peer:
    """HTTP to a real gunicorn from one of this host's loopback addresses (127.0.0.0/8)."""

    def __init__(self, server, source: str):
        self.server, self.source = server, source

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30,
                                                source_address=(self.source, 0))
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read().decode()
        finally:
            connection.close()

    def login(self, username: str, password: str, *, headers: dict[str, str]) -> int:
        """Django's login form, as a browser posts it (its CSRF cookie and token)."""
        status, answer_headers, page = self.request("GET", "/accounts/login/", headers)
        assert status == 200, (status, page[:300])
        cookie = next(value.split(";")[0] for name, value in answer_headers
                      if name == "Set-Cookie" and value.startswith("csrftoken="))
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
        status, _, _ = self.request("POST", "/accounts/login/", {
            **headers, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"https://127.0.0.1:{self.server.port}"}, form)
        return status


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_behind_an_https_proxy_only_the_proxy_is_believed(tmp_path, django_user_model):
    """DJANGO_HTTPS, end to end: gunicorn believes X-Forwarded-Proto, and the app X-Forwarded-For,
    from DJANGO_TRUSTED_PROXY_ADDRESSES only (here 127.0.0.2, so that 127.0.0.1, which gunicorn
    would trust by itself, is a client reaching gunicorn directly); a lockout holds one user at
    one address."""
    django_user_model.objects.create_user("admin", password="the-right-pass-1", is_staff=True)
    collected = manage("collectstatic", "--noinput", "-v0", env=server_env(tmp_path))
    assert collected.returncode == 0, collected.stderr
    server = Gunicorn(tmp_path, env={"DJANGO_HTTPS": "true", "DJANGO_TRUSTED_PROXY_ADDRESSES": "127.0.0.2",
                                     "SCANNER_ENABLED": "false", "GUNICORN_ACCESSLOG": ""})
    server.start(ready_path="/api/health/")
    proxy, direct = Peer(server, "127.0.0.2"), Peer(server, "127.0.0.1")
    try:
        https = {"X-Forwarded-Proto": "https"}
        status, headers, _ = direct.request("GET", "/accounts/login/", https)
        assert status == 301 and dict(headers)["Location"].startswith("https://"), "a direct client is not believed"
        assert proxy.request("GET", "/accounts/login/", https)[0] == 200

        attacker = {**https, "X-Forwarded-For": "203.0.113.5"}
        answers = [proxy.login("admin", f"guess-{n}", headers=attacker) for n in range(10)]
        assert answers == [200] * 9 + [429]
        assert proxy.login("admin", "the-right-pass-1", headers=attacker) == 429
        owner = {**https, "X-Forwarded-For": "198.51.100.20"}
        assert proxy.login("admin", "the-right-pass-1", headers=owner) == 302, "another address logs in"
    finally:
        server.kill()
    assert "event=login_locked_out address=203.0.113.5 user=admin" in server.log()
