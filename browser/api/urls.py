from django.urls import path

from browser.api import views

urlpatterns = [
    path("browser/status", views.BrowserStatusView.as_view(), name="browser-status"),
]
