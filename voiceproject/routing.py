"""WebSocket routes of every app, collected for the ASGI router."""

from browser.routing import websocket_urlpatterns as browser_ws
from media.routing import websocket_urlpatterns as media_ws

websocket_urlpatterns = [*media_ws, *browser_ws]
