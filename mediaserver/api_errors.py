"""How errors look: `{"detail": "..."}` in the API (validation errors: DRF's field dicts).

A scan-control conflict also carries the job it ran into. A database that cannot be reached
is a 503 with a message, never a 500, in the API and on the pages alike; the next request
connects again, so the site recovers by itself when the database is back.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.dberrors import is_outage
from scanner.jobs import services

logger = logging.getLogger(__name__)

CONTROL_ERROR_STATUS = {
    services.LibraryNotFound: status.HTTP_404_NOT_FOUND,
    services.NoOpenScan: status.HTTP_409_CONFLICT,
    services.ScanAlreadyRunning: status.HTTP_409_CONFLICT,
    services.InvalidScope: status.HTTP_400_BAD_REQUEST,
}
DATABASE_DOWN = "The database is unavailable; try again shortly."


def exception_handler(exc, context):
    if isinstance(exc, services.InvalidScope):
        return Response({"paths": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)  # a field error, as DRF's
    if isinstance(exc, services.ScanControlError):
        from scanner.serializers import JobSerializer

        body: dict[str, Any] = {"detail": str(exc)}
        if exc.job is not None:
            body["job"] = JobSerializer(exc.job).data
        return Response(body, status=CONTROL_ERROR_STATUS.get(type(exc), status.HTTP_409_CONFLICT))
    if isinstance(exc, OperationalError | InterfaceError) and is_outage(exc):
        logger.warning("database unavailable: %s", exc, extra={"action": "db_unavailable"})
        return Response({"detail": DATABASE_DOWN}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "5"})
    return drf_exception_handler(exc, context)


def server_error(request):
    """handler500: an unreachable database is a 503 saying so; anything else a plain 500."""
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError) or not is_outage(error):
        return django_server_error(request)
    logger.warning("database unavailable: %s", error, extra={"action": "db_unavailable"})
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": DATABASE_DOWN}, status=503)
    else:
        response = HttpResponse(
            f"<!doctype html><title>Database unavailable</title><h1>Database unavailable</h1><p>{DATABASE_DOWN}</p>",
            status=503,
        )
    response["Retry-After"] = "5"
    return response


def bad_request(request, exception=None):
    """handler400: under /api/, JSON; a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 there."""
    if not request.path.startswith("/api/"):
        return django_bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse({"detail": f"The request body is larger than {limit:,} bytes."}, status=413)
    return JsonResponse({"detail": "Bad request."}, status=400)


def not_found(request, exception=None):
    """404 for URLs that match nothing: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
