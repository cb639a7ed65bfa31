"""Failed logins: counted and locked out by django-axes, each one logged as a key=value line.

Passwords typed at the login page and the admin's login go through authenticate(), which axes
watches. Two other doors are watched here, with the same counts, lockout and log line:
- API tokens (`Authorization: Token ...`), counted under the user name "(API token)" for the
  address that sent them;
- the current password asked by the password-change form, which Django checks without
  authenticate(), so a stolen session cannot guess its way to the password.
"""

from __future__ import annotations

import logging

from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import PasswordChangeView
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from mediaserver.client_address import client_address

log = logging.getLogger("mediaserver.auth")
TOKEN_USER = "(API token)"  # the user name wrong API tokens are counted under


@receiver(user_login_failed, dispatch_uid="mediaserver.log_failed_login")
def log_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # Connected after axes' own receiver (its app loads first), so its count is already updated.
    # The address is written before the user name, which the client chose: fail2ban's filter
    # (README) takes the address from a fixed place in the line that no value can reach.
    log.warning("Login failed", extra={
        "event": "login_failed", "address": client_address(request) if request is not None else "",
        "user": credentials.get("username", ""),
        "failures": getattr(request, "axes_failures_since_start", None), "limit": settings.AXES_FAILURE_LIMIT})


@receiver(user_locked_out, dispatch_uid="mediaserver.log_lockout")
def log_lockout(sender, request, username, ip_address, **kwargs) -> None:
    log.warning("Login locked out", extra={
        "event": "login_locked_out", "address": ip_address, "user": username or "",
        "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)})


def is_locked_out(request, username: str) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": username})


def count_failure(request, username: str) -> None:
    """One more failure for this user from this address, as a wrong password counts."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's token authentication; wrong tokens count as failed logins of "(API token)" from
    that address, and once it is locked out its requests get 429 until the cool-off ends."""

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
            return None
        if is_locked_out(request._request, TOKEN_USER):
            raise Throttled(wait=settings.AXES_COOLOFF_TIME.total_seconds(),
                            detail="Too many requests with a wrong API token from your address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            count_failure(request._request, TOKEN_USER)
            raise


class GuardedPasswordChangeForm(PasswordChangeForm):
    """Django's form, with each wrong current password counted as a failed login of the user."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self):
        username = self.user.get_username()
        if is_locked_out(self.request, username):
            raise forms.ValidationError(settings.AXES_COOLOFF_MESSAGE, code="locked_out")
        try:
            return super().clean_old_password()
        except forms.ValidationError:
            count_failure(self.request, username)
            raise


class GuardedPasswordChangeView(PasswordChangeView):
    form_class = GuardedPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}
