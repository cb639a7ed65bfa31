"""Project-wide API policy: who may do what, and how lists page."""

from __future__ import annotations

from rest_framework import parsers, permissions
from rest_framework.exceptions import ParseError
from rest_framework.pagination import PageNumberPagination

SCAN_CONTROL = "scanner.change_scanjob"  # the API's scan controls and the admin's scan actions


class StaffWithModelPermissions(permissions.DjangoModelPermissions):
    """Authenticated users read; a change needs a staff user holding the model permission the
    admin asks for too (add, change or delete), so the API and the admin agree."""

    message = "Only staff users with the permission to do this may change libraries and scans."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if request.method not in permissions.SAFE_METHODS and not (user and user.is_staff):
            return False
        return super().has_permission(request, view)


class CanControlScans(permissions.BasePermission):
    """Starting, pausing, resuming and cancelling scans: staff holding "Can change scan job",
    the permission behind the admin's scan actions. Reading a status needs a login only."""

    message = "Only staff users with the permission to change scan jobs may control scans."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or (user.is_staff and user.has_perm(SCAN_CONTROL))


class JSONParser(parsers.JSONParser):
    """DRF's, but a body nested deeper than Python's JSON decoder recurses is a 400, not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class CanNotifyChanges(permissions.BasePermission):
    """Notices of changed paths (scanner/hooks.py), and the reads a notifying tool's connection
    test makes first: staff holding "Can change scan job" whatever the method, so that test
    passes only with a token that may then notify."""

    message = "Only staff users with the permission to change scan jobs may notify changes."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and user.has_perm(SCAN_CONTROL))
