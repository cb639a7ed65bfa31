"""Project-wide API policy: who may do what, and how lists page."""

from __future__ import annotations

from rest_framework import parsers, permissions
from rest_framework.exceptions import ParseError
from rest_framework.pagination import PageNumberPagination


class IsStaffOrReadOnly(permissions.BasePermission):
    """Authenticated users read; only staff change anything."""

    message = "Only staff users may change libraries and scans."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or user.is_staff


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
