"""ASGI entry point: Django for HTTP, Channels for the WebSockets of each app.

Origin checks are per route: browser sockets validate Origin in `browser.routing`, while
the ACS media socket has no browser Origin and authenticates with its JWT or secret instead.
"""

import ctypes
import gc
import logging
import os
import threading

from django.core.asgi import get_asgi_application


def _map_large_allocations() -> None:
    """Serve every allocation of 128 kB or more from its own mapping, returned on free.

    glibc raises that threshold as large blocks are freed, after which the speech models' big
    per-sentence buffers come from the threads' heaps and stay there once freed: with piper
    the server grew about 2 MB per conversation, and 0.06 with this (`bench/README.md`,
    "Soak"). The same as `MALLOC_MMAP_THRESHOLD_=131072`; nothing on other C libraries.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold = -3
    libc.mallopt(m_mmap_threshold, 128 * 1024)


_map_large_allocations()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from metrics import loop_lag  # noqa: E402
from voiceproject import processes  # noqa: E402
from voiceproject.api.loop import probe_lane, probe_view  # noqa: E402
from voiceproject.routing import websocket_urlpatterns  # noqa: E402
from voiceproject.socket_auth import TokenAuthMiddleware  # noqa: E402

logger = logging.getLogger(__name__)


def _preload_speech_models() -> None:
    """Load the shared speech models (pocketsphinx, piper, Silero) before the first caller,
    then synthesize the agents' greetings into the phrase cache.

    Loading takes seconds on a small machine; without this the first conversation of a fresh
    process waits for it before its greeting.
    """
    from media.conversation import phrase_cache_warm, provider_factory

    try:
        provider_factory().preload()
        logger.info("speech models loaded")
    except Exception:
        logger.exception("speech models could not be preloaded; sessions will load them")
        return
    try:
        logger.info("agents' greetings synthesized ahead: %d", phrase_cache_warm())
    except Exception as exc:  # noqa: BLE001 - e.g. no database yet: callers synthesize them
        logger.warning("greetings could not be synthesized ahead: %s", exc)


# Import every view now, not in the first request: that import held the GIL on the serving
# loop for 135-330 ms (the loop-lag monitor saw it).
get_resolver().resolve("/api/v1/health")

threading.Thread(target=_preload_speech_models, name="preload-speech", daemon=True).start()

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope, receive, send):
    """The router, once the serving loop measures its own lag (`metrics.loop_lag`) and the
    process beats (`voiceproject.processes`).

    Daphne sends Channels apps no lifespan event, so both start with the first request or
    socket (idempotent).
    """
    loop_lag.ensure_started()
    processes.ensure_started()
    return await serve(scope, receive, send)


async def serve(scope, receive, send):
    """Probes (`voiceproject.api.loop`) on the loop, without the middleware chain; the rest
    through the router."""
    probe = probe_view(scope)
    if probe is not None:
        return await probe_lane(probe, scope, receive, send, django_asgi_app)
    return await router(scope, receive, send)


# Django, the apps and their libraries leave about 140k objects that live as long as the
# process. A full collection walked them all: about 80 ms with the event loop stopped, and
# every caller's audio with it. Frozen, they are left out of collections (0 ms); what sessions
# allocate later is collected as usual.
gc.freeze()
