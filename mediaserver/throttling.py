"""API throttles that tell callers apart by mediaserver.client_address.

DRF's own `get_ident` reads X-Forwarded-For whatever peer sent it (its NUM_PROXIES rule), so a
client could write a new address into it for each request and never be throttled.
"""

from __future__ import annotations

from rest_framework import throttling

from mediaserver.client_address import client_address


class ClientAddressIdent:
    """Mix into any DRF throttle (before it) to key anonymous callers on client_address."""

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonRateThrottle(ClientAddressIdent, throttling.AnonRateThrottle):
    """DRF's anonymous rate (the "anon" scope), per client address."""
