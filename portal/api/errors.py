"""The API's exception handler: every error answers JSON, including the ones Django raises
while reading the body (too large, too many fields), which would otherwise be its HTML 400.
`page_not_found` (the root URLconf's handler404) answers JSON for an /api/ path no route
matches (e.g. `/api/v1/endpoints/not-a-uuid/`), Django's HTML page elsewhere. A database that is
locked, unwritable or down answers 503 with Retry-After (JSON on the API, a short page
elsewhere) instead of a 500, from the API's handler or `server_error` (handler500) when it
failed before the view (sessions, the token lookup)."""

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable (locked, read-only or down); try again shortly."


def _database_unavailable(api: bool, exc: BaseException) -> HttpResponse:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    retry = str(settings.DATABASE_RETRY_AFTER_SECONDS)
    if api:
        response = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
    else:
        response = HttpResponse(
            f"<!doctype html><title>Unavailable</title><h1>Service unavailable</h1>"
            f"<p>{DATABASE_UNAVAILABLE}</p>",
            status=503,
        )
    response["Retry-After"] = retry
    return response


def exception_handler(exc, context):
    if isinstance(exc, DatabaseError):
        return _database_unavailable(True, exc)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"Request body too large (at most {limit} bytes)."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response(
            {"detail": "Request body has too many fields or files."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return drf_exception_handler(exc, context)


def page_not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: a database failure is a 503 (the request may be retried); any other error is
    Django's 500 page, JSON on the API."""
    exc = sys.exc_info()[1]
    api = request.path.startswith("/api/")
    if isinstance(exc, DatabaseError):
        return _database_unavailable(api, exc)
    if api:
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
