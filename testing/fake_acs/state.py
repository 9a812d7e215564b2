"""What the fake ACS remembers: calls, ringing invites, and the requests it received."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from testing.fake_acs.media import MediaStreamRequest


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class IncomingCallInvite:
    """A call ringing at the ACS number, not yet answered."""

    incoming_call_context: str
    from_number: str
    to_number: str
    server_call_id: str
    correlation_id: str
    event: dict  # the Event Grid `IncomingCall` event to deliver


@dataclass(slots=True)
class FakeCall:
    call_connection_id: str
    server_call_id: str
    correlation_id: str
    direction: str  # "outbound" | "inbound"
    state: str  # "connecting" | "connected" | "disconnected"
    callback_uri: str
    source: dict | None
    targets: list[dict]
    operation_context: str | None = None
    media_streaming: dict | None = None  # mediaStreamingOptions as received (wire names)
    transcription: dict | None = None  # transcriptionOptions as received
    cognitive_services_endpoint: str | None = None
    incoming_call_context: str | None = None
    media_streams: list[MediaStreamRequest] = field(default_factory=list)
    hangup: threading.Event = field(default_factory=threading.Event)
    added_participants: list[dict] = field(default_factory=list)  # warm transfers' people
    played: list[dict] = field(default_factory=list)  # PlayRequests: playSources, playTo
    transferred_to: dict | None = None  # a cold transfer's target, once accepted
    app_left: bool = False  # the app hung up its own leg only (the others stay)
    recognizing: dict | None = None  # the RecognizeRequest waiting for the caller's keys
    sent_tones: list[str] = field(default_factory=list)  # tones the app pressed

    def properties(self) -> dict:
        """CallConnectionProperties as the service returns them (§2.4)."""
        props: dict[str, Any] = {
            "callConnectionId": self.call_connection_id,
            "serverCallId": self.server_call_id,
            "correlationId": self.correlation_id,
            "callbackUri": self.callback_uri,
            "callConnectionState": self.state,
            "targets": self.targets,
        }
        if self.source:
            props["source"] = self.source
        if self.media_streaming:
            active = self.state == "connected" and self.media_streaming.get("startMediaStreaming")
            props["mediaStreamingSubscription"] = {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.call_connection_id)),
                "state": "active" if active else "inactive",
                "subscribedContentTypes": ["audio"],
            }
        return props
