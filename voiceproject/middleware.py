"""HTTP middleware: the API's answers kept JSON where Django would answer otherwise, and
static files; both run in an async chain as well as a sync one.

Under ASGI a sync-only middleware splits Django's async chain: the part outside it is handed
to the request's worker thread and the part inside it back to the loop, more hand-offs on every
request. Both are async-capable, so nothing here adds one (the liveness probes skip the chain
altogether, `voiceproject.api.loop`).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from rest_framework.response import Response
from whitenoise.middleware import WhiteNoiseMiddleware

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


class HybridMiddleware:
    """A middleware that runs in the chain it is built in: `__acall__` in an async one
    (`get_response` a coroutine function), `sync_call` in a sync one."""

    sync_capable = True
    async_capable = True

    def _chain_mode_set(self, get_response) -> None:
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return self.sync_call(request)


class ApiErrorMiddleware(HybridMiddleware):
    """413 for oversized bodies; the JSON 404 for unknown `/api/` routes, DEBUG on or off.

    Sits outside CommonMiddleware so that its slash-appending redirects still happen, and
    leaves DRF's own responses (JSON 404s naming the missing object) alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._chain_mode_set(get_response)

    def sync_call(self, request):
        if _declared_too_big(request):
            return request_too_large(request)
        return self._json_404(request, self.get_response(request))

    async def __acall__(self, request):
        if _declared_too_big(request):
            return request_too_large(request)
        return self._json_404(request, await self.get_response(request))

    @staticmethod
    def _json_404(request, response):
        if (
            response.status_code == 404
            and request.path.startswith(API_PREFIX)
            and not isinstance(response, Response)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return not_found(request)
        return response


class StaticFilesMiddleware(HybridMiddleware, WhiteNoiseMiddleware):
    """WhiteNoise (sync only), able to sit in an async chain.

    A request outside the static prefix goes on at once; a static file is looked up and
    opened in a worker thread of its own (file I/O), never the shared thread of sync views.
    """

    def __init__(self, get_response, settings=settings):
        WhiteNoiseMiddleware.__init__(self, get_response, settings)
        self._chain_mode_set(get_response)
        self._everywhere = bool(getattr(settings, "WHITENOISE_ROOT", None))

    def sync_call(self, request):
        return WhiteNoiseMiddleware.__call__(self, request)

    async def __acall__(self, request):
        if self._everywhere or request.path_info.startswith(self.static_prefix):
            static_file = await sync_to_async(self._static_file, thread_sensitive=False)(
                request.path_info
            )
            if static_file is not None:
                return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)

    def _static_file(self, path: str):
        return self.find_file(path) if self.autorefresh else self.files.get(path)
