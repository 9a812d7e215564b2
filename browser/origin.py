"""The Origin check of the browser sockets: only this site's pages may open them.

Browsers let any page open a WebSocket to any site, with that site's cookies; the `Origin`
header says which page it was. It must be the socket's own origin (the scheme, host and port
the socket was opened on, the host one of ALLOWED_HOSTS, as a page served by this app has) or
one of CSRF_TRUSTED_ORIGINS (`DJANGO_CSRF_TRUSTED_ORIGINS`, the origins Django already trusts
for forms). Scheme, host and port are all compared: `http://127.0.0.1:9999` is another site
than `http://127.0.0.1:8000`. A socket without an Origin (not a browser) is refused too.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _secure(scope: dict) -> bool:
    """The socket reached the client over TLS: wss, or a proxy says so (Django's
    SECURE_PROXY_SSL_HEADER, set in production, where TLS ends at the load balancer)."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, secure_value = proxy_header
    wanted = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
    return _header(scope, wanted).split(",", 1)[0].strip() == secure_value


def own_origin(scope: dict) -> str:
    """The origin of the pages this socket belongs to (`http://127.0.0.1:8000`), or "" when
    the Host header is missing or names a host this app does not serve."""
    host = _header(scope, b"host").strip()
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return ""
    return f"{'https' if _secure(scope) else 'http'}://{host}"


def allowed_origins(scope: dict) -> list[str]:
    """Own origin first, then CSRF_TRUSTED_ORIGINS (`https://*.example.com` is any subdomain)."""
    trusted = [origin.replace("://*.", "://.") for origin in settings.CSRF_TRUSTED_ORIGINS]
    own = own_origin(scope)
    return [own, *trusted] if own else trusted


class SameOriginValidator(OriginValidator):
    """Opens the socket only for an allowed Origin; otherwise the handshake is refused (403)."""

    def __init__(self, application) -> None:
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope, receive, send):
        origin = _header(scope, b"origin")
        parsed = urlparse(origin) if origin else None
        if parsed is not None and any(
            self.match_allowed_origin(parsed, pattern) for pattern in allowed_origins(scope)
        ):
            return await self.application(scope, receive, send)
        logger.info(
            "%s: socket refused: Origin %r is not this site's (host %r)",
            scope.get("path"),
            origin,
            _header(scope, b"host"),
        )
        return await WebsocketDenier()(scope, receive, send)
