from django.urls import path

from agentbuilder.api import views

urlpatterns = [
    path("agents", views.AgentListView.as_view(), name="agent-list"),
    path("agents/<str:name>", views.AgentDetailView.as_view(), name="agent-detail"),
    path("agent-builder/tools", views.BuilderToolListView.as_view(), name="builder-tools"),
    path("agent-builder/voices", views.BuilderVoiceListView.as_view(), name="builder-voices"),
    path("agent-builder/defaults", views.BuilderDefaultsView.as_view(), name="builder-defaults"),
    path(
        "agent-builder/templates",
        views.BuilderTemplateListView.as_view(),
        name="builder-templates",
    ),
    path(
        "agent-builder/templates/<str:template_id>",
        views.BuilderTemplateDetailView.as_view(),
        name="builder-template-detail",
    ),
    path("agent-builder/create", views.BuilderCreateView.as_view(), name="builder-create"),
    path(
        "agent-builder/session/<str:session_id>",
        views.BuilderSessionView.as_view(),
        name="builder-session",
    ),
    path("agent-builder/sessions", views.BuilderSessionListView.as_view(), name="builder-sessions"),
    path("agent-builder/reload-agents", views.BuilderReloadView.as_view(), name="builder-reload"),
    path("demo-env/temporary-user", views.TemporaryUserView.as_view(), name="demo-temporary-user"),
]
