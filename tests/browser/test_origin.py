"""The browser sockets open only for this site's pages: Origin is compared by scheme, host and
port with the socket's own origin and CSRF_TRUSTED_ORIGINS."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

SOCKETS = ["/api/v1/browser/conversation", "/api/v1/browser/dashboard/relay"]


@pytest.fixture(autouse=True)
def signed_in_only(settings):
    """An accepted anonymous socket is then closed with 4401 at once: no conversation starts."""
    settings.BROWSER_ALLOW_ANONYMOUS = False


async def handshake(path: str, *, origin: str | None, host: str = "127.0.0.1:8000", **scope):
    """Whether the handshake was accepted (a refused one never gets to the consumer)."""
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    communicator.scope.update(scope)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize("path", SOCKETS)
async def test_a_page_of_this_site_opens_the_sockets(path):
    assert await handshake(path, origin="http://127.0.0.1:8000")


@pytest.mark.parametrize("path", SOCKETS)
@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # the same host on another port is another site
        "http://127.0.0.1",
        "https://127.0.0.1:8000",  # another scheme
        "http://localhost:8000",  # another host, though one the app serves
        "https://evil.example",
        "null",
        "",
        None,
    ],
)
async def test_any_other_origin_is_refused(path, origin):
    assert not await handshake(path, origin=origin)


async def test_a_host_the_app_does_not_serve_is_no_origin_of_its_own():
    """DNS rebinding: a page at evil.example resolving to this server sends Host evil.example."""
    assert not await handshake(SOCKETS[0], origin="http://evil.example", host="evil.example")


async def test_over_tls_the_own_origin_is_https(settings):
    host = "localhost"
    assert await handshake(SOCKETS[0], origin="https://localhost", host=host, scheme="wss")
    assert not await handshake(SOCKETS[0], origin="http://localhost", host=host, scheme="wss")
    # TLS ended at the load balancer, which says so in the header Django is told to trust.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    communicator = WebsocketCommunicator(
        application,
        SOCKETS[0],
        headers=[
            (b"host", b"localhost"),
            (b"origin", b"https://localhost"),
            (b"x-forwarded-proto", b"https"),
        ],
    )
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    assert connected


async def test_trusted_origins_are_matched_with_their_port(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://voice.example.com", "https://*.example.org:8443"]
    path = SOCKETS[0]
    assert await handshake(path, origin="https://voice.example.com", host="app.internal:8000")
    assert await handshake(path, origin="https://a.example.org:8443", host="app.internal:8000")
    assert not await handshake(
        path, origin="https://voice.example.com:8443", host="app.internal:8000"
    )
    assert not await handshake(path, origin="http://voice.example.com", host="app.internal:8000")
    assert not await handshake(path, origin="https://a.example.org", host="app.internal:8000")
