"""Forged client addresses (issue 23, part 3): X-Forwarded-For is believed only from our proxies."""

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from mediaserver.client_address import client_address
from mediaserver.proxies import trusted_proxy_networks

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

