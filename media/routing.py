"""WebSocket routes of the media app."""

websocket_urlpatterns: list = []
