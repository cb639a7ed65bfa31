"""Which peers are our reverse proxies (DJANGO_TRUSTED_PROXY_ADDRESSES).

settings.py reads it for X-Forwarded-For (mediaserver/client_address.py), and gunicorn.conf.py
for gunicorn's `forwarded_allow_ips` (X-Forwarded-Proto): one variable, one reading, so the two
can never disagree about whom to believe. No Django setup needed: gunicorn's master reads it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

VARIABLE = "DJANGO_TRUSTED_PROXY_ADDRESSES"
DEFAULT = "127.0.0.1,::1"  # a proxy on this host, as the README's setup has it

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxy_networks(environ: Mapping[str, str]) -> tuple[Network, ...]:
    """The comma-separated addresses and CIDR networks; empty trusts no peer."""
    networks = []
    for entry in environ.get(VARIABLE, DEFAULT).split(","):
        if entry.strip():
            try:
                networks.append(ipaddress.ip_network(entry.strip()))  # strict: 10.0.0.1/8 is a mistake
            except ValueError as error:
                raise ImproperlyConfigured(f"{VARIABLE}: {error} (addresses or networks, comma separated)") from None
    return tuple(networks)


def is_trusted_proxy(address: str, networks: tuple[Network, ...]) -> bool:
    ip = parse_address(address)
    return ip is not None and any(ip in network for network in networks)


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None
