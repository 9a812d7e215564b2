"""Probes answered on the event loop: liveness must stay cheap whatever else the process does.

Under ASGI, Django runs every sync piece of a request in a worker thread of that request:
each middleware's `process_request` and `process_response`, the request signals, a sync view.
A liveness request paid about fifteen such hand-offs, each a wake-up of another thread; 200
concurrent probes on two busy cores got 115 answers a second. A `LoopAPIView` is answered
on the loop instead: `probe_lane` serves its GET and HEAD requests straight from the ASGI
router, without the middleware chain or the request signals (no session, CSRF or host check:
a probe reads no cookie and writes nothing), in one pass of DRF's dispatch.
"""

from __future__ import annotations

import io

from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

PROBE_METHODS = {"GET", "HEAD"}


class LoopAPIView(APIView):
    """An open APIView answered on the event loop (see the module docstring).

    Nothing authenticates, permits or throttles, so DRF's dispatch is cheap and runs inline,
    and the answer is rendered at once (Django would render a DRF `Response` in a thread).
    A subclass's handlers must not block: no database, files or network.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @classmethod
    def as_view(cls, **initkwargs):
        drf_view = super().as_view(**initkwargs)

        async def view(request, *args, **kwargs):
            response = drf_view(request, *args, **kwargs)
            response.render()
            answer = HttpResponse(
                response.content, status=response.status_code, headers=dict(response.items())
            )
            answer["Content-Length"] = str(len(answer.content))  # else sent chunked
            return answer

        # What DRF's view carries: the schema generator finds the class, CSRF is DRF's affair.
        view.cls = drf_view.cls
        view.initkwargs = drf_view.initkwargs
        view.csrf_exempt = True
        view.probe = True
        return view


def probe_view(scope):
    """The `LoopAPIView` view a GET or HEAD request of `scope` is for, or None."""
    if scope["type"] != "http" or scope["method"] not in PROBE_METHODS:
        return None
    try:
        match = resolve(scope["path"])
    except Resolver404:
        return None
    return match if getattr(match.func, "probe", False) else None


async def probe_lane(match, scope, receive, send, handler: ASGIHandler) -> None:
    """Answer a probe request on the loop; `handler` (Django's) encodes the response."""
    request = ASGIRequest(scope, io.BytesIO())
    response = await match.func(request, *match.args, **match.kwargs)
    await handler.send_response(response, send)
