"""How a REST request proves a browser session is its client's: the signed-in user, or the
anonymous visitor's session token in the `X-Session-Token` header."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from browser.selectors import SessionAccess, session_access

SESSION_TOKEN_HEADER = "X-Session-Token"
SESSION_TOKEN_PARAMETER = OpenApiParameter(
    SESSION_TOKEN_HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "An anonymous visitor's proof that the session is theirs: the `session_token` handed "
        "out once when the session id was first used (the conversation socket's first status, "
        "or the answer that first named the id)."
    ),
)


def request_user(request):
    """The signed-in user of `request`, or None."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def request_session_access(request, session_id: str) -> SessionAccess:
    return session_access(session_id, token=request.headers.get(SESSION_TOKEN_HEADER, ""))
