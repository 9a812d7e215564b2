"""Live WebSocket connections of this server process, for `/api/v1/browser/status`.

Counts are per process, like the original's connection manager: each daphne process behind a
load balancer reports its own sockets.
"""

from __future__ import annotations

import threading
from collections import Counter

DASHBOARD = "dashboard"
CONVERSATION = "conversation"

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_sessions: dict[str, int] = {}


def opened(kind: str, *, session_id: str | None = None) -> None:
    with _lock:
        _counts[kind] += 1
        if kind == CONVERSATION and session_id:
            _sessions[session_id] = _sessions.get(session_id, 0) + 1


def closed(kind: str, *, session_id: str | None = None) -> None:
    with _lock:
        _counts[kind] = max(0, _counts[kind] - 1)
        if kind == CONVERSATION and session_id and session_id in _sessions:
            _sessions[session_id] -= 1
            if _sessions[session_id] <= 0:
                del _sessions[session_id]


def snapshot() -> dict[str, int]:
    """`{dashboard_clients, conversation_sessions, total_connections}` right now."""
    with _lock:
        dashboards = _counts[DASHBOARD]
        conversations = _counts[CONVERSATION]
    return {
        "dashboard_clients": dashboards,
        "conversation_sessions": conversations,
        "total_connections": dashboards + conversations,
    }
