"""WebSocket routes of the browser app.

Browser sockets check the Origin header against ALLOWED_HOSTS (a page on another site cannot
open them with the visitor's cookies).
"""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from browser.consumers import ConversationConsumer, DashboardRelayConsumer

websocket_urlpatterns = [
    path(
        "api/v1/browser/conversation",
        AllowedHostsOriginValidator(ConversationConsumer.as_asgi()),
    ),
    path(
        "api/v1/browser/dashboard/relay",
        AllowedHostsOriginValidator(DashboardRelayConsumer.as_asgi()),
    ),
]
