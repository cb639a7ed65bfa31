"""API throttles that tell callers apart by mediaserver.client_address.

DRF's own `get_ident` reads X-Forwarded-For whatever peer sent it (its NUM_PROXIES rule), so a
client could write a new address into it for each request and never be throttled.
"""

from __future__ import annotations

from rest_framework import throttling

from mediaserver.client_address import client_address
from mediaserver.proxies import parse_address


class ClientAddressIdent:
    """Mix into any DRF throttle (before it) to key anonymous callers on client_address."""

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonRateThrottle(ClientAddressIdent, throttling.AnonRateThrottle):
    """DRF's anonymous rate (the "anon" scope), per client address, except for this host.

    Anonymous callers reach only the health check. The monitors on this host (a container's or
    systemd's health check, a monitoring agent beside the server) all share the loopback address,
    so counting it would let any one of them push the others into 429: they are not counted.
    A monitor elsewhere has an address of its own and probes far below 120 times a minute.
    """

    def allow_request(self, request, view) -> bool:
        address = parse_address(client_address(request))
        if address is not None and address.is_loopback:
            return True
        return super().allow_request(request, view)
