"""Failed logins: counted and locked out by django-axes, each one logged as a key=value line.

Passwords typed at the login page and the admin's login go through authenticate(), which axes
watches; a lockout holds one user name at one address (AXES_LOCKOUT_PARAMETERS), so nobody
locks a user out anywhere but from their own address. Two other doors are watched here, with
the same counts, lockout and log line:
- wrong API tokens (`Authorization: Token ...`), counted under the user name "(API token)" for
  the address that sent them; once that is locked out, further wrong tokens get 429, but a valid
  token always authenticates (tokens are 160 random bits: guessing is not the threat, and
  someone else's wrong tokens must not lock the owner out). The login forms refuse that name,
  so it cannot be counted or locked from there;
- the current password asked by the password-change form, which Django checks without
  authenticate(), so a stolen session cannot guess its way to the password.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
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
    that address, and once it is locked out further wrong tokens get 429 until the cool-off
    ends. A valid token is looked up first and always authenticates."""

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
            return None
        try:
            return super().authenticate(request)  # a valid token, locked out or not
        except AuthenticationFailed as failure:
            self.refuse(request, failure)

    def authenticate_key(self, request, key: str):
        """(user, token) for a key sent some other way (tools that cannot send `Authorization:
        Token`: mediaserver/hook_auth.py), refused and counted as a wrong token here is."""
        try:
            return self.authenticate_credentials(key)
        except AuthenticationFailed as failure:
            self.refuse(request, failure)

    def refuse(self, request, failure: AuthenticationFailed) -> NoReturn:
        if is_locked_out(request._request, TOKEN_USER):
            raise Throttled(wait=settings.AXES_COOLOFF_TIME.total_seconds(),
                            detail="Too many requests with a wrong API token from your address.") from None
        count_failure(request._request, TOKEN_USER)
        raise failure


class GuardedAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing the user name wrong API tokens are counted under before it
    reaches authenticate(): typed here, it would count towards, or lock out, every token from
    that address. The answer is the one for any wrong login."""

    def clean(self):
        if self.cleaned_data.get("username") == TOKEN_USER:  # as the form normalised it (NFKC, stripped)
            raise self.get_invalid_login_error()
        return super().clean()


class GuardedAdminAuthenticationForm(GuardedAuthenticationForm, AdminAuthenticationForm):
    """The admin's login form, refusing that name too."""


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
