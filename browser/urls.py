"""Web pages: the conversation at `/`, the dashboard, calls, the agent builder, sign-in."""

from django.contrib.auth import views as auth_views
from django.urls import path

from browser import views

app_name = "browser"

urlpatterns = [
    path("", views.conversation, name="conversation"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("calls/", views.calls, name="calls"),
    path("agent-builder/", views.agent_builder, name="agent-builder"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="registration/login.html", next_page="/"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
]
