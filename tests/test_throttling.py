"""The anonymous rate (the health check): per client address, never for this host's monitors."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_monitors_on_this_host_are_never_throttled(client, address):
    answers = [client.get("/api/health/", REMOTE_ADDR=address).status_code for _ in range(300)]
    assert answers == [200] * 300
    assert client.get("/api/health/", REMOTE_ADDR="192.0.2.11").status_code == 200, "others have their own count"


def test_clients_behind_a_proxy_on_this_host_are_throttled_as_themselves(client, settings):
    settings.TRUSTED_PROXIES = 1
    answers = [client.get("/api/health/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code
               for _ in range(121)]
    assert answers == [200] * 120 + [429], "the proxy's loopback address does not exempt them"
    assert client.get("/api/health/", REMOTE_ADDR="127.0.0.1").status_code == 200, "the host's own monitor"
