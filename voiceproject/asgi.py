"""ASGI entry point: Django for HTTP, Channels for the WebSockets of each app.

Origin checks are per route: browser sockets validate Origin in `browser.routing`, while
the ACS media socket has no browser Origin and authenticates with its JWT or secret instead.
"""

import logging
import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from voiceproject.routing import websocket_urlpatterns  # noqa: E402

logger = logging.getLogger(__name__)


def _preload_speech_models() -> None:
    """Load the shared speech models (pocketsphinx, piper, Silero) before the first caller.

    Loading takes seconds on a small machine; without this the first conversation of a fresh
    process waits for it before its greeting.
    """
    from media.conversation import provider_factory

    try:
        provider_factory().preload()
        logger.info("speech models loaded")
    except Exception:
        logger.exception("speech models could not be preloaded; sessions will load them")


threading.Thread(target=_preload_speech_models, name="preload-speech", daemon=True).start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
