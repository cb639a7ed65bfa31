"""Project-wide API policy: who may do what, and how lists page."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.pagination import PageNumberPagination


class IsStaffOrReadOnly(permissions.BasePermission):
    """Authenticated users read; only staff change anything."""

    message = "Only staff users may change libraries and scans."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or user.is_staff


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
