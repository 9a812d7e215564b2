"""JSON errors for the API: every failure answers `{"error": ..., "detail": ...}` and a status.

DRF handles its own exceptions; Django's 404/500 handlers cover routes DRF never sees.
No stack trace reaches a client when DEBUG is off.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    """DRF's handler, with a stable `error` code beside DRF's `detail` (or field errors)."""
    response = exception_handler(exc, context)
    if response is None and isinstance(exc, RequestDataTooBig):
        return request_too_large(context.get("request"))
    if response is None and isinstance(exc, SuspiciousOperation):
        logger.warning("rejected request: %s", exc)
        return bad_request(context.get("request"))
    if response is None:
        view = context.get("view")
        logger.exception("unhandled error in %s", type(view).__name__ if view else "API view")
        return server_error(context.get("request"))
    code = getattr(exc, "default_code", "error")
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        response.data = {"error": code, "detail": data["detail"]}
    else:
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {"error": code, "detail": "Invalid request.", "fields": fields}
    return response


def not_found(request, exception=None):
    return JsonResponse(
        {"error": "not_found", "detail": f"No route for {request.method} {request.path}."},
        status=404,
    )


def server_error(request):
    return JsonResponse({"error": "server_error", "detail": "Internal server error."}, status=500)


def request_too_large(request, exception=None):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse(
        {"error": "request_too_large", "detail": f"The request body exceeds {limit} bytes."},
        status=413,
    )


def bad_request(request, exception=None):
    return JsonResponse({"error": "bad_request", "detail": "Bad request."}, status=400)


def permission_denied(request, exception=None):
    return JsonResponse({"error": "permission_denied", "detail": "Permission denied."}, status=403)
