"""Sessions open in this process: counted in memory for the liveness report (no database)."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_open: dict[str, str] = {}  # session id -> transport
_totals = {"opened": 0, "closed": 0}


def opened(session_id: str, transport: str) -> None:
    with _lock:
        if session_id not in _open:
            _totals["opened"] += 1
        _open[session_id] = transport


def closed(session_id: str) -> None:
    with _lock:
        if _open.pop(session_id, None) is not None:
            _totals["closed"] += 1


def is_open(session_id: str) -> bool:
    with _lock:
        return session_id in _open


def counts() -> dict[str, int]:
    """Open sessions by transport, and totals since the process started."""
    with _lock:
        transports = list(_open.values())
        return {
            "active": len(transports),
            "browser": transports.count("browser"),
            "acs": transports.count("acs"),
            "total_connected": _totals["opened"],
            "total_disconnected": _totals["closed"],
        }
