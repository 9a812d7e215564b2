"""What the project's WebSocket consumers share: reading the upgrade request and the close codes.

Close codes 4000-4999 are the application's (the close reason says what was wrong);
`docs/browser-protocol.md` lists the browser socket's.
"""

from __future__ import annotations

from urllib.parse import parse_qs

CLOSE_NORMAL = 1000
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401  # no credentials, or not good ones (the browser socket: sign in)
CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN_CALL = 4404
CLOSE_CALL_ENDED = 4410
CLOSE_START_FAILED = 4500

TRACE_HEADERS = ("traceparent", "tracestate")


def scope_query(scope: dict) -> dict[str, str]:
    """The upgrade request's query parameters; for a repeated one its last value, as
    Django's `QueryDict.get` (an empty value is kept: `?session_id=` gives "")."""
    raw = parse_qs((scope.get("query_string") or b"").decode("latin-1"), keep_blank_values=True)
    return {key: values[-1] for key, values in raw.items()}


def scope_header(scope: dict, name: str) -> str:
    """The first value of a request header (case-insensitive), or ""."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers") or ():
        if key.lower() == wanted:
            return value.decode("latin-1")
    return ""


def scope_trace_headers(scope: dict) -> dict[str, str]:
    """The W3C trace context the client sent (`traceparent`, `tracestate`), if any."""
    return {name: value for name in TRACE_HEADERS if (value := scope_header(scope, name))}
