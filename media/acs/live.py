"""Media sockets open in this process, and the bad input they were sent (no database).

Read by `GET /api/v1/media/status`; each process reports its own sockets.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class StreamInfo:
    call_connection_id: str
    session_id: str
    streaming_mode: str
    kind: str = "pending"  # "audio" | "transcription" once the first message arrived
    opened_at: float = field(default_factory=time.time)
    messages_in: int = 0
    frames_out: int = 0
    stops_out: int = 0
    rejected: Counter = field(default_factory=Counter)


_lock = threading.Lock()
_streams: dict[str, StreamInfo] = {}  # by channel name
_rejected_total: Counter = Counter()
_totals = {"opened": 0, "closed": 0}


def opened(channel_name: str, info: StreamInfo) -> None:
    with _lock:
        _streams[channel_name] = info
        _totals["opened"] += 1


def closed(channel_name: str) -> StreamInfo | None:
    with _lock:
        info = _streams.pop(channel_name, None)
        if info is not None:
            _totals["closed"] += 1
            _rejected_total.update(info.rejected)
        return info


def snapshot() -> dict:
    """Open streams by mode and kind, totals since start, and bad input counted by reason."""
    with _lock:
        streams = list(_streams.values())
        rejected = Counter(_rejected_total)
        for info in streams:
            rejected.update(info.rejected)
        return {
            "active": len(streams),
            "by_mode": dict(Counter(s.streaming_mode for s in streams)),
            "by_kind": dict(Counter(s.kind for s in streams)),
            "total_opened": _totals["opened"],
            "total_closed": _totals["closed"],
            "rejected_messages": dict(rejected),
            "calls": [
                {
                    "call_connection_id": s.call_connection_id,
                    "session_id": s.session_id,
                    "streaming_mode": s.streaming_mode,
                    "kind": s.kind,
                    "messages_in": s.messages_in,
                    "frames_out": s.frames_out,
                    "stops_out": s.stops_out,
                    "rejected": sum(s.rejected.values()),
                }
                for s in streams[:100]
            ],
        }
