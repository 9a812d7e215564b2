"""WebSocket routes of the browser app.

Browser sockets open only for this site's pages: the Origin header must be the socket's own
origin or one of CSRF_TRUSTED_ORIGINS, scheme, host and port (`browser.origin`), so a page on
another site cannot open them with the visitor's cookies.
"""

from django.urls import path

from browser.consumers import ConversationConsumer, DashboardRelayConsumer
from browser.origin import SameOriginValidator

websocket_urlpatterns = [
    path(
        "api/v1/browser/conversation",
        SameOriginValidator(ConversationConsumer.as_asgi()),
    ),
    path(
        "api/v1/browser/dashboard/relay",
        SameOriginValidator(DashboardRelayConsumer.as_asgi()),
    ),
]
