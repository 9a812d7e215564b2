"""Who may post call callbacks, deliver Event Grid events and open the ACS media socket.

Two schemes, chosen by configuration:

- ACS-signed JWT (`ACS_JWKS_URL` and `ACS_JWT_AUDIENCE` set): ACS sends
  `Authorization: Bearer <RS256 JWT>` on every callback and on the media socket upgrade; the
  token must verify against the published keys, with ACS's issuer and this resource's audience.
- Otherwise a shared secret carried in the URLs this app hands to ACS (`?token=...`):
  `ACS_CALLBACK_SECRET`, or, when unset, one derived from `SECRET_KEY`, so callbacks are never
  unauthenticated. `callback_url()` and `media_stream_url()` put it there.

Event Grid cannot carry the ACS token, so the incoming-call webhook always checks the secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
from typing import NamedTuple
from urllib.parse import urlencode

import jwt
from django.conf import settings

from voiceproject.sockets import scope_header, scope_query

logger = logging.getLogger(__name__)

ACS_JWT_ISSUER_DEFAULT = "https://acscallautomation.communication.azure.com"
TOKEN_PARAM = "token"
CALLBACK_PATH = "/api/v1/calls/callbacks"
EVENT_GRID_PATH = "/api/v1/calls/answer"
MEDIA_STREAM_PATH = "/api/v1/media/stream"
JWKS_TIMEOUT_S = 5.0


class AuthResult(NamedTuple):
    """Outcome of a check; unpacks as `ok, reason = ...`."""

    ok: bool
    reason: str


# --- configuration ---------------------------------------------------------------------------


def callback_secret() -> str:
    """The shared secret expected in callback, Event Grid and media URLs."""
    configured = settings.ACS_CALLBACK_SECRET
    if configured:
        return configured
    digest = hmac.new(settings.SECRET_KEY.encode(), b"calls.acs-callback-secret", hashlib.sha256)
    return digest.hexdigest()[:40]


def jwt_configured() -> bool:
    return bool(settings.ACS_JWKS_URL and settings.ACS_JWT_AUDIENCE)


def jwt_issuer() -> str:
    return settings.ACS_JWT_ISSUER or ACS_JWT_ISSUER_DEFAULT


# --- URL builders ----------------------------------------------------------------------------


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}?{urlencode(params)}"


def callback_url() -> str:
    """Where ACS posts the CloudEvents of calls this app creates or answers."""
    return _with_query(settings.BASE_URL + CALLBACK_PATH, {TOKEN_PARAM: callback_secret()})


def event_grid_webhook_url() -> str:
    """The URL to register as the Event Grid subscription endpoint for incoming calls."""
    return _with_query(settings.BASE_URL + EVENT_GRID_PATH, {TOKEN_PARAM: callback_secret()})


def media_stream_url(call_connection_id: str | None = None) -> str:
    """The media socket URL given to ACS (`ws`/`wss` following BASE_URL's scheme).

    ACS sends the call connection id as a header; it is added to the query when known so that
    other clients (the call simulator) need no custom headers.
    """
    base = settings.BASE_URL
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    params = {TOKEN_PARAM: callback_secret()}
    if call_connection_id:
        params["call_connection_id"] = call_connection_id
    return _with_query(base + MEDIA_STREAM_PATH, params)


# --- checks ----------------------------------------------------------------------------------

_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks_client(url: str) -> jwt.PyJWKClient:
    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            client = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=JWKS_TIMEOUT_S)
            _jwks_clients[url] = client
        return client


def verify_acs_jwt(authorization: str) -> AuthResult:
    """Check an `Authorization: Bearer <JWT>` value against the configured ACS keys."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return AuthResult(False, "missing ACS bearer token")
    token = token.strip()
    try:
        signing_key = _jwks_client(settings.ACS_JWKS_URL).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        logger.warning("ACS signing keys unavailable from %s: %s", settings.ACS_JWKS_URL, exc)
        return AuthResult(False, "ACS signing keys unavailable")
    except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
        return AuthResult(False, f"unknown or malformed token: {exc}")
    try:
        jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=settings.ACS_JWT_AUDIENCE,
            issuer=jwt_issuer(),
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        return AuthResult(False, "token expired")
    except jwt.InvalidAudienceError:
        return AuthResult(False, "token audience mismatch")
    except jwt.InvalidIssuerError:
        return AuthResult(False, "token issuer mismatch")
    except jwt.InvalidSignatureError:
        return AuthResult(False, "token signature invalid")
    except jwt.InvalidTokenError as exc:
        return AuthResult(False, f"invalid token: {exc}")
    return AuthResult(True, "ACS token verified")


def verify_secret(token: str | None) -> AuthResult:
    if not token:
        return AuthResult(False, f"missing '{TOKEN_PARAM}' query parameter")
    if not hmac.compare_digest(token.encode(), callback_secret().encode()):
        return AuthResult(False, "wrong callback token")
    return AuthResult(True, "callback token accepted")


def authorize(*, authorization: str | None, token: str | None) -> AuthResult:
    """The configured scheme: the ACS JWT when keys are configured, else the URL secret."""
    if jwt_configured():
        return verify_acs_jwt(authorization or "")
    return verify_secret(token)


def callback_authorize(request) -> AuthResult:
    """Check a Call Automation callback (a Django or DRF request)."""
    return authorize(
        authorization=request.headers.get("Authorization"),
        token=request.GET.get(TOKEN_PARAM),
    )


def event_grid_authorize(request) -> AuthResult:
    """Check an Event Grid delivery: always the URL secret (Event Grid has no ACS token)."""
    return verify_secret(request.GET.get(TOKEN_PARAM))


def _scope_credentials(scope: dict) -> tuple[str, str | None]:
    return scope_header(scope, "authorization"), scope_query(scope).get(TOKEN_PARAM) or None


def media_socket_authorize(scope: dict) -> AuthResult:
    """Check the upgrade request of the ACS media socket (an ASGI websocket scope).

    May fetch the ACS signing keys over HTTP on first use: from a consumer, call
    `media_socket_authorize_async`.
    """
    authorization, token = _scope_credentials(scope)
    return authorize(authorization=authorization, token=token)


async def media_socket_authorize_async(scope: dict) -> AuthResult:
    """`media_socket_authorize` without blocking the event loop on a key fetch."""
    if not jwt_configured():
        return media_socket_authorize(scope)
    return await asyncio.to_thread(media_socket_authorize, scope)
