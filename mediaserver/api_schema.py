"""The OpenAPI schema lists the errors each operation can answer, not only its successes.

drf-spectacular documents what a view declares; the errors come from project-wide policy
(authentication, permissions, throttles, filters, ids in paths), so they are added here once,
in the shapes mediaserver/api_errors.py gives them. tests/test_api_schema.py keeps them there.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import permissions, serializers

ERROR = inline_serializer("Error", fields={"detail": serializers.CharField()})
ERRORS = {
    "400": OpenApiResponse(OpenApiTypes.OBJECT, description='Bad input: field errors, {"field": ["why", ...]}, '
                                                            'or {"detail": "why"}'),
    "401": OpenApiResponse(ERROR, description="No credentials, or a wrong token"),
    "403": OpenApiResponse(ERROR, description="Only staff holding the permission may do this (or a missing CSRF "
                                              "token, for a session)"),
    "404": OpenApiResponse(ERROR, description="No such object (ids that are not whole numbers included), or a "
                                              "page past the last"),
    "429": OpenApiResponse(ERROR, description="Too many requests (or wrong tokens) from this client; see "
                                              "Retry-After"),
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None:
            queries = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            responses = operation["responses"]
            for code in self.error_codes(queries):
                if code not in responses:
                    responses[code] = self._get_response_for_code(ERRORS[code], code)
            operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_codes(self, queries: set[str]) -> list[str]:
        """The errors this operation can answer besides those its view declares (409, 503, ...):
        a body or a filter can be bad, a page or an id in the path can be past the end."""
        open_to_all = any(permission is permissions.AllowAny for permission in self.view.permission_classes)
        codes = ["429"]
        if self.method in WRITES - {"DELETE"} or queries - {"page", "page_size"}:
            codes.append("400")
        if not open_to_all:
            codes.append("401")
            if self.method in WRITES:
                codes.append("403")
        if "{" in self.path or "page" in queries:
            codes.append("404")
        return codes
