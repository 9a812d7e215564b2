"""WebSocket routes of the browser app."""

websocket_urlpatterns: list = []
