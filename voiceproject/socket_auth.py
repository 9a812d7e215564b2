"""API tokens on the WebSockets: a script (a benchmark, a monitor) signs in with the header
`Authorization: Token <key>`, as on the REST API. Browsers cannot send that header on a
WebSocket; they sign in with the session cookie (channels' AuthMiddleware, outside this one).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from voiceproject.sockets import scope_header


def _token_key(scope: dict) -> str:
    kind, _, key = scope_header(scope, "authorization").partition(" ")
    return key.strip() if kind.lower() == "token" else ""


@database_sync_to_async
def _token_user(key: str):
    """The token's user by DRF's own check (unknown keys and inactive users refused)."""
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.exceptions import AuthenticationFailed

    try:
        user, _ = TokenAuthentication().authenticate_credentials(key)
    except AuthenticationFailed:
        return None
    return user


class TokenAuthMiddleware(BaseMiddleware):
    """Sets `scope["user"]` from an API token when the session cookie signed nobody in; an
    unknown token leaves the socket anonymous (its consumer then refuses what needs sign-in)."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        key = _token_key(scope)
        if key and (user is None or not user.is_authenticated):
            token_user = await _token_user(key)
            if token_user is not None:
                scope = {**scope, "user": token_user}
        return await super().__call__(scope, receive, send)
