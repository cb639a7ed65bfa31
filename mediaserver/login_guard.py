"""Failed logins: each one logged as a key=value line (for fail2ban), and API tokens throttled.

Password logins (the login page and the admin's) are counted and locked out by django-axes
(settings AXES_*); this module adds the log line axes does not write in that form, and the
equivalent guard for `Authorization: Token` guesses, which never reach axes.
"""

from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from mediaserver.client_address import client_address

log = logging.getLogger("mediaserver.auth")


@receiver(user_login_failed, dispatch_uid="mediaserver.log_failed_login")
def log_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # Connected after axes' own receiver (its app loads first), so its count is already updated.
    failures = getattr(request, "axes_failures_since_start", None)
    log.warning("Login failed", extra={
        "event": "login_failed", "user": credentials.get("username", ""),
        "address": client_address(request) if request is not None else "", "failures": failures,
        "limit": settings.AXES_FAILURE_LIMIT})


@receiver(user_locked_out, dispatch_uid="mediaserver.log_lockout")
def log_lockout(sender, request, username, ip_address, **kwargs) -> None:
    log.warning("Login locked out", extra={
        "event": "login_locked_out", "user": username or "", "address": ip_address,
        "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)})


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, but an address that keeps sending wrong tokens is refused with
    429 for a while: TOKEN_FAILURE_LIMIT wrong tokens within TOKEN_FAILURE_WINDOW seconds."""

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
            return None
        address = client_address(request)
        key = f"token-failures:{address}"
        if (cache.get(key) or 0) >= settings.TOKEN_FAILURE_LIMIT:
            raise Throttled(wait=settings.TOKEN_FAILURE_WINDOW,
                            detail="Too many requests with a wrong API token from your address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            failures = _count_failure(key)
            log.warning("API token refused", extra={
                "event": "token_failed", "address": address, "failures": failures,
                "limit": settings.TOKEN_FAILURE_LIMIT})
            raise


def _count_failure(key: str) -> int:
    cache.add(key, 0, timeout=settings.TOKEN_FAILURE_WINDOW)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between the two calls
        cache.set(key, 1, timeout=settings.TOKEN_FAILURE_WINDOW)
        return 1
