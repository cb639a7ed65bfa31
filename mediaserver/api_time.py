"""The API answers times in UTC (DESIGN.md 6: ISO 8601 UTC); pages show them in TIME_ZONE.

DRF writes a datetime in the zone active while it serializes, which Django sets to TIME_ZONE:
for the API, UTC is made the active zone for the whole request instead.
"""

from datetime import UTC

from django.utils import timezone

API_PREFIXES = ("/api/",)


class ApiInUtcMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIXES):
            return self.get_response(request)
        with timezone.override(UTC):
            return self.get_response(request)
