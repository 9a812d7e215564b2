"""The media WebSocket ACS opens to the app (azure-protocols §1.1, §1.5).

ACS is the WebSocket *client*: once a call with `startMediaStreaming` connects, it dials the
`transportUrl` with `x-ms-call-connection-id`, `x-ms-call-correlation-id` and, when signing,
`Authorization: Bearer <JWT>`, then sends `AudioMetadata` (or `TranscriptionMetadata`).
The fake hands that moment to a hook, so tests and the call simulator decide what the caller
says; `open_media_socket` is the default hook.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class MediaStreamRequest:
    """One stream ACS would open: what to dial and with which headers.

    `hangup` is set when the call ends (either side); a hook should then close the socket
    with code 1000. `received` collects the JSON messages the default hook read from the app.
    """

    url: str
    call_connection_id: str
    correlation_id: str
    kind: str  # "media" (AudioData both ways) | "transcription" (TranscriptionData)
    audio_format: str  # "pcm16KMono" | "pcm24KMono"
    sample_rate_hz: int
    bidirectional: bool
    headers: dict[str, str]
    hangup: threading.Event = field(default_factory=threading.Event)
    received: list[dict] = field(default_factory=list)
    opened: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)
    close_code: int | None = None
    close_reason: str = ""
    error: str = ""

    @property
    def frame_bytes(self) -> int:
        """Bytes of one 20 ms PCM16 mono frame at this stream's rate."""
        return self.sample_rate_hz * 2 // 50

    def metadata_message(self) -> dict:
        """The first message ACS sends on the socket."""
        if self.kind == "transcription":
            return {
                "kind": "TranscriptionMetadata",
                "transcriptionMetadata": {
                    "subscriptionId": str(uuid.uuid4()),
                    "locale": "en-us",
                    "callConnectionId": self.call_connection_id,
                    "correlationId": self.correlation_id,
                },
            }
        return {
            "kind": "AudioMetadata",
            "audioMetadata": {
                "subscriptionId": str(uuid.uuid4()),
                "encoding": "PCM",
                "sampleRate": self.sample_rate_hz,
                "channels": 1,
                "length": self.frame_bytes,
            },
        }


MediaStreamHook = Callable[[MediaStreamRequest], Any]


def open_media_socket(request: MediaStreamRequest, *, poll_s: float = 0.05) -> None:
    """Default hook: connect like ACS, send the metadata, read until the call ends.

    Runs in its own thread (the fake starts one per stream).
    """
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        ws = connect(request.url, additional_headers=request.headers, open_timeout=10)
    except InvalidStatus as exc:
        request.error = f"upgrade refused: HTTP {exc.response.status_code}"
        request.closed.set()
        logger.warning("call %s: media socket %s", request.call_connection_id, request.error)
        return
    except OSError as exc:
        request.error = f"connect failed: {exc}"
        request.closed.set()
        logger.warning("call %s: media socket %s", request.call_connection_id, request.error)
        return
    with ws:
        request.opened.set()
        try:
            ws.send(json.dumps(request.metadata_message()))
            while not request.hangup.is_set():
                try:
                    message = ws.recv(timeout=poll_s)
                except TimeoutError:
                    continue
                if isinstance(message, str):
                    try:
                        request.received.append(json.loads(message))
                    except ValueError:
                        request.received.append({"unparsed": message})
            ws.close(1000, "call ended")
        except ConnectionClosed:
            pass
        finally:
            request.close_code = ws.close_code
            request.close_reason = ws.close_reason or ""
            request.closed.set()
