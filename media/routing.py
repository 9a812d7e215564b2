"""WebSocket routes of the media app.

The ACS media socket has no browser Origin: it authenticates with the ACS JWT or the shared
secret in its URL (`calls.auth`), checked by the consumer.
"""

from django.urls import path

from media.consumers import MediaStreamConsumer

websocket_urlpatterns = [
    path("api/v1/media/stream", MediaStreamConsumer.as_asgi()),
]
