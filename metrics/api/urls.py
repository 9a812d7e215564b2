from django.urls import path

from metrics.api import views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("readiness", views.ReadinessView.as_view(), name="readiness"),
]
