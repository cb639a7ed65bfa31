"""GET /api/: the endpoints, so that a person who finds the API finds its map (DESIGN.md 6);
the schema at /api/schema/ and the docs at /api/docs/ say the rest."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

# (methods, path, what it does); tests/test_api_root.py checks this against the schema's paths.
ENDPOINTS = [
    ("GET POST", "/api/libraries/", "list the libraries, or add one (name, path, kind)"),
    ("GET PATCH DELETE", "/api/libraries/{id}/", "a library: read, change, delete (ends its scan)"),
    ("GET", "/api/libraries/{id}/files/", "its catalogued files (kind, missing, search, genre, language, ...)"),
    ("GET", "/api/files/", "every library's catalogued files (library, and the same filters)"),
    ("POST", "/api/scanner/start/{library_id}/", 'start a scan: quick, {"mode": "full"}, or {"paths": [...]}'),
    ("POST", "/api/scanner/pause/{library_id}/", "pause the library's running scan"),
    ("POST", "/api/scanner/resume/{library_id}/", "resume its paused scan, or start one"),
    ("POST", "/api/scanner/cancel/{library_id}/", "cancel its open scan"),
    ("GET", "/api/scanner/status/{library_id}/", "its open scan, else its latest"),
    ("GET", "/api/scanner/jobs/", "scan history, newest first (library, status)"),
    ("GET", "/api/scanner/jobs/{id}/", "a scan"),
    ("GET", "/api/scanner/jobs/{id}/events/", "a scan's events, oldest first"),
    ("GET", "/api/scanner/events/", "every library's events, newest first (library, kind)"),
    ("POST", "/api/scanner/changes/", 'tell the server these paths changed: {"paths": ["/abs/path", ...]}'),
    ("POST PUT", "/api/hooks/arr/", "Sonarr, Radarr, Lidarr and Readarr webhook events"),
    # Jellyfin's and Emby's, for the tools that notify them (also under /mediabrowser/ and /emby/).
    ("POST", "/Library/Media/Updated/", 'Jellyfin/Emby "media updated" notice: these paths changed'),
    ("GET", "/Library/VirtualFolders/", "the libraries, as Jellyfin lists them"),
    ("GET", "/Items/", "no items (tools then notify paths)"),
    ("GET", "/System/Info/", "what a Jellyfin connection test reads"),
    ("GET", "/System/Configuration/", "what an *arr connection test reads"),
    ("POST", "/Notifications/Admin/", "a connection's test notification"),
    ("GET", "/api/health/", "database, worker, scheduler, running scans (no login needed)"),
    ("GET", "/metrics/", "Prometheus text"),
    ("GET", "/api/schema/", "the OpenAPI 3 schema"),
    ("GET", "/api/docs/", "interactive docs (Swagger UI)"),
]


class ApiRootView(APIView):
    """The API's endpoints, with what each does."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiResponse(description='{"endpoints": [{"methods", "path", "does"}]}')})
    def get(self, request):
        return Response({"endpoints": [{"methods": methods.split(), "path": path, "does": does}
                                       for methods, path, does in ENDPOINTS]})
