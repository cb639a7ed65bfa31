"""API tokens as the tools that notify changes send them (DESIGN.md 10).

Sonarr, Radarr and Lidarr cannot send `Authorization: Token`: their "Emby / Jellyfin"
connection sends the API key the way Jellyfin reads one, and their "Webhook" connection has a
user name and a password (HTTP Basic). Both read the key here and check it exactly as
`Authorization: Token` is checked (mediaserver/login_guard.py): a wrong one counts as a failed
login of "(API token)" from that address, and a disabled user's token is refused.
"""

from __future__ import annotations

import base64
import binascii
import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.exceptions import AuthenticationFailed

from mediaserver.login_guard import ThrottledTokenAuthentication

TOKEN_HEADERS = ("HTTP_X_EMBY_TOKEN", "HTTP_X_MEDIABROWSER_TOKEN")
AUTHORIZATION_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_X_EMBY_AUTHORIZATION")
AUTHORIZATION_SCHEMES = ("mediabrowser", "emby")
QUERY_KEYS = ("api_key", "ApiKey")
_PARAMETER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')  # Client="Sonarr", Token="..."


def mediabrowser_key(request) -> str | None:
    """The key, wherever Jellyfin would look for it: X-Emby-Token, X-MediaBrowser-Token,
    `Authorization` or `X-Emby-Authorization: MediaBrowser Token="..."` (or `Emby Token=`),
    then ?api_key= (or ?ApiKey=); None if the request carries none."""
    for header in TOKEN_HEADERS:
        if value := request.META.get(header, "").strip():
            return value
    for header in AUTHORIZATION_HEADERS:
        scheme, _, parameters = request.META.get(header, "").strip().partition(" ")
        if scheme.lower() in AUTHORIZATION_SCHEMES:
            for name, value in _PARAMETER.findall(parameters):
                if name.lower() == "token" and value:
                    return value
    for name in QUERY_KEYS:
        if value := request.query_params.get(name, "").strip():
            return value
    return None


class MediaBrowserTokenAuthentication(ThrottledTokenAuthentication):
    """An API token sent as Jellyfin and Emby clients send their API key."""

    def authenticate(self, request):
        key = mediabrowser_key(request)
        return None if key is None else self.authenticate_key(request, key)

    def authenticate_header(self, request) -> str:
        return 'MediaBrowser realm="api", Token="<API token>"'


class BasicTokenAuthentication(ThrottledTokenAuthentication):
    """HTTP Basic with an API token as the password, the user name being anything (it is the
    token that says who calls): what a Webhook connection's user name and password fields send."""

    def authenticate(self, request):
        scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            _, colon, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            colon = password = ""
        if not colon or not password:
            self.refuse(request, AuthenticationFailed("Invalid basic header: the password must be an API token."))
        return self.authenticate_key(request, password)

    def authenticate_header(self, request) -> str:
        return 'Basic realm="api"'


class MediaBrowserTokenScheme(OpenApiAuthenticationExtension):
    target_class = MediaBrowserTokenAuthentication
    name = "mediaBrowserToken"
    priority = 1  # before drf-spectacular's own scheme for TokenAuthentication, whose subclass this is

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-MediaBrowser-Token",
                "description": 'Or X-Emby-Token, Authorization: MediaBrowser Token="...", or ?api_key='}


class BasicTokenScheme(OpenApiAuthenticationExtension):
    target_class = BasicTokenAuthentication
    name = "basicToken"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "Any user name; an API token as the password"}
