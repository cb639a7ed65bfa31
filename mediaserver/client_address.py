"""Who is asking: the address login lockouts, throttles and failure logs are keyed on."""

from __future__ import annotations

from django.conf import settings

from mediaserver.proxies import is_trusted_proxy, parse_address


def client_address(request) -> str:
    """REMOTE_ADDR, the peer that connected; when that peer is one of our reverse proxies
    (DJANGO_TRUSTED_PROXY_ADDRESSES), the address it saw, from X-Forwarded-For.

    The header is read from the right, one entry per proxy, for at most DJANGO_TRUSTED_PROXIES
    proxies, and only while the address in hand is a trusted proxy: what a client wrote in the
    header itself, or sent to us without a proxy (a local user reaching gunicorn directly), is
    never believed, or it would get a fresh address for each attempt, or take someone else's.
    An entry that is not an address stops the walk at the proxy that passed it on.
    """
    address = request.META.get("REMOTE_ADDR") or ""
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for _ in range(settings.TRUSTED_PROXIES):
        if not forwarded or not is_trusted_proxy(address, settings.TRUSTED_PROXY_NETWORKS):
            break
        seen = parse_address(forwarded.pop())
        if seen is None:
            break
        address = str(seen)
    return address
