"""The API documentation pages, served without any request leaving the machine."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

# Redoc's side menu shows a logo from cdn.redoc.ly that no setting turns off; the policy
# stops the browser fetching it (the bundle hides the image when it fails to load).
REDOC_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    ]
)


class RedocView(SpectacularRedocView):
    """Redoc from drf-spectacular-sidecar, with a page that links no external font."""

    template_name = "voiceproject/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = REDOC_CSP
        return response
