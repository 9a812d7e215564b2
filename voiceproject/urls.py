"""Top-level routes: the admin, the web pages, the API under /api/v1/ and its docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from voiceproject.docs import RedocView

api_v1 = [
    path("", include("voiceproject.api.urls")),
    path("", include("metrics.api.urls")),
    path("", include("agentbuilder.api.urls")),
    path("", include("calls.api.urls")),
    path("", include("media.api.urls")),
    path("", include("browser.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("browser.urls")),
]

handler400 = "voiceproject.errors.bad_request"
handler403 = "voiceproject.errors.permission_denied"
handler404 = "voiceproject.errors.not_found"
handler500 = "voiceproject.errors.server_error"
