"""Who is asking: the address login throttling and failure logs are keyed on."""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR; behind DJANGO_TRUSTED_PROXIES reverse proxies, the address the farthest of them
    saw, from X-Forwarded-For (DRF's NUM_PROXIES rule). X-Forwarded-For is never trusted beyond
    that: a client could write anything there and get a fresh address for each attempt."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-min(proxies, len(forwarded))]
    return remote
