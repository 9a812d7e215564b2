from django.urls import path

from media.api.views import MediaStatusView

urlpatterns = [
    path("media/status", MediaStatusView.as_view(), name="media-status"),
]
