from django.urls import path

from metrics.api import sessions, views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("readiness", views.ReadinessView.as_view(), name="readiness"),
    path("sessions", sessions.SessionListView.as_view(), name="sessions"),
    path("sessions/<str:session_id>", sessions.SessionDetailView.as_view(), name="session"),
    path("metrics/sessions", views.SessionListView.as_view(), name="metrics-sessions"),
    path(
        "metrics/session/<str:session_id>",
        views.SessionDetailView.as_view(),
        name="metrics-session",
    ),
    path("metrics/summary", views.MetricsSummaryView.as_view(), name="metrics-summary"),
    path("metrics/loop", views.LoopLagView.as_view(), name="metrics-loop"),
    path("tts/dedicated/health", views.TTSPoolHealthView.as_view(), name="tts-pool-health"),
    path("tts/dedicated/metrics", views.TTSPoolMetricsView.as_view(), name="tts-pool-metrics"),
    path("tts/dedicated/status", views.TTSPoolStatusView.as_view(), name="tts-pool-status"),
]
