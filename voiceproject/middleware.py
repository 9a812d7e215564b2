"""HTTP middleware that keeps the API's answers JSON where Django would answer otherwise."""

from __future__ import annotations

from django.conf import settings
from rest_framework.response import Response

from voiceproject.errors import not_found, request_too_large

API_PREFIX = "/api/"


def _declared_too_big(request) -> bool:
    """A body whose Content-Length exceeds DATA_UPLOAD_MAX_MEMORY_SIZE.

    Django raises RequestDataTooBig only when a view reads such a body, as an error deep in
    the view; refusing it here answers 413 before anything reads it. Multipart bodies are
    left to Django: their file parts do not count towards the limit.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or request.content_type == "multipart/form-data":
        return False
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > limit
    except ValueError:
        return False


class ApiErrorMiddleware:
    """413 for oversized bodies; the JSON 404 for unknown `/api/` routes, DEBUG on or off.

    Sits outside CommonMiddleware so that its slash-appending redirects still happen, and
    leaves DRF's own responses (JSON 404s naming the missing object) alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _declared_too_big(request):
            return request_too_large(request)
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith(API_PREFIX)
            and not isinstance(response, Response)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return not_found(request)
        return response
