"""Change notices in the formats other tools already send (DESIGN.md 10): thin views over
scanner/jobs/arr.py, which turns each body into changed paths noted like POST /api/scanner/changes.

- The Jellyfin/Emby API, as far as the "Emby / Jellyfin" connection of Sonarr, Radarr and
  Lidarr calls it (their MediaBrowserProxy.cs), under /, /mediabrowser/ and /emby/:
  POST Library/Media/Updated (the notice); GET System/Configuration (the Test button of Sonarr
  and Radarr: any 200 passes, a 401 says the API key is wrong); POST Notifications/Admin
  (Lidarr's Test button, and "Send Notifications": accepted, nothing shown or stored); GET Items
  (Sonarr and Radarr ask which paths the server knows a series or movie by before each notice,
  and send nothing if this fails: no items, so they send their own path). autoscan's Jellyfin
  target (targets/jellyfin/api.go) also reads GET System/Info and GET Library/VirtualFolders.
- POST /api/hooks/arr: the "Webhook" connection of Sonarr, Radarr, Lidarr and Readarr.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from libraries.models import Library
from mediaserver.api_policy import CanNotifyChanges
from mediaserver.hook_auth import BasicTokenAuthentication, MediaBrowserTokenAuthentication
from mediaserver.login_guard import ThrottledTokenAuthentication
from mediaserver.throttling import AnonRateThrottle
from scanner.jobs import arr
from scanner.serializers import ArrAnswerSerializer

EMBY_TAG = ["jellyfin-compatible"]
UNAUTHORIZED = OpenApiResponse(description="No API token, or a wrong one (counted as a failed login)")
BAD_BODY = OpenApiResponse(description='{"detail": ...}: the body is not a notice of this format')


class _Notices(APIView):
    permission_classes = [CanNotifyChanges]
    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "changes"


class _Emby(_Notices):
    authentication_classes = [MediaBrowserTokenAuthentication]


class EmbyMediaUpdatedView(_Emby):
    """Jellyfin's and Emby's "media updated" notice: each path, after SCANNER_PATH_MAP, is stored
    as a pending change of its library before the 204; a path inside no library is logged."""

    @extend_schema(tags=EMBY_TAG, request=inline_serializer("EmbyMediaUpdated", {
        "Updates": serializers.ListField(child=inline_serializer("EmbyMediaUpdate", {
            "Path": serializers.CharField(), "UpdateType": serializers.CharField(required=False)}))}),
        responses={204: None, 400: BAD_BODY, 401: UNAUTHORIZED})
    def post(self, request):
        try:
            arr.emby_receive(request.data)
        except arr.NotANotice as exc:
            raise ParseError(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmbySystemView(_Emby):
    """System/Configuration, which the Test button of Sonarr's and Radarr's connection reads, and
    System/Info, which autoscan's Jellyfin target polls: only their status matters to them."""

    @extend_schema(tags=EMBY_TAG, responses={200: OpenApiResponse(description="{}"), 401: UNAUTHORIZED})
    def get(self, request):
        return Response({})


class EmbyVirtualFoldersView(_Emby):
    """The libraries, which autoscan's Jellyfin target reads at start: it then sends only the
    folders inside one of them (after its own rewrite rules, so these are this server's paths)."""

    @extend_schema(tags=EMBY_TAG, responses={200: OpenApiResponse(description='[{"Name": ..., "Locations": [...]}]'),
                                             401: UNAUTHORIZED})
    def get(self, request):
        return Response([{"Name": name, "Locations": [path]}
                         for name, path in Library.objects.order_by("name", "pk").values_list("name", "path")])


class EmbyItemsView(_Emby):
    """No items: Sonarr and Radarr then notify the path they hold the series or movie at."""

    @extend_schema(tags=EMBY_TAG, responses={200: OpenApiResponse(description='{"Items": [], "TotalRecordCount": 0}'),
                                             401: UNAUTHORIZED})
    def get(self, request):
        return Response({"Items": [], "TotalRecordCount": 0, "StartIndex": 0})


class EmbyAdminNotificationView(_Emby):
    """Lidarr's Test button (and any connection's "Send Notifications"): accepted, nothing kept."""

    @extend_schema(tags=EMBY_TAG, request=None, responses={204: None, 401: UNAUTHORIZED})
    def post(self, request):
        return Response(status=status.HTTP_204_NO_CONTENT)


class ArrWebhookView(_Notices):
    """Sonarr, Radarr, Lidarr and Readarr webhook events: `Test` stores nothing (200); each other
    event is noted as the changes it implies, or ignored with a reason if it changes no file (202)."""

    authentication_classes = [BasicTokenAuthentication, ThrottledTokenAuthentication]

    @extend_schema(
        request=inline_serializer("ArrWebhookEvent", {"eventType": serializers.CharField()}),
        responses={200: ArrAnswerSerializer, 202: ArrAnswerSerializer, 400: BAD_BODY, 401: UNAUTHORIZED})
    def post(self, request):
        try:
            received = arr.webhook_receive(request.data)
        except arr.NotANotice as exc:
            raise ParseError(str(exc)) from None
        return Response({"event": received.event, "queued": received.queued, "ignored": received.ignored},
                        status=status.HTTP_200_OK if received.test else status.HTTP_202_ACCEPTED)

    put = post  # the connection's Method may be PUT
