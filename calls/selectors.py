"""Reads of calls and their events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from calls.models import Call
from media.modes import StreamMode


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as the media socket sees it: plain data, safe to hold across awaits."""

    id: str
    call_connection_id: str
    server_call_id: str
    correlation_id: str
    direction: str
    from_number: str
    to_number: str
    status: str
    streaming_mode: str
    record_call: bool
    browser_session_id: str
    session_id: str
    disconnect_reason: str
    voicemail_message: str
    answered_by: str
    created_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    media_connected_at: datetime | None

    @property
    def screened(self) -> bool:
        """An outbound call whose callee is screened for voicemail and not yet decided."""
        return (
            self.direction == Call.Direction.OUTBOUND
            and bool(self.voicemail_message)
            and not self.answered_by
        )

    @property
    def is_final(self) -> bool:
        return self.status in Call.FINAL_STATUSES

    @property
    def sample_rate_hz(self) -> int:
        """PCM rate negotiated with ACS for this call's media stream."""
        return StreamMode(self.streaming_mode).sample_rate_hz

    @classmethod
    def from_model(cls, call: Call) -> CallRecord:
        return cls(
            id=str(call.id),
            call_connection_id=call.call_connection_id,
            server_call_id=call.server_call_id,
            correlation_id=call.correlation_id,
            direction=call.direction,
            from_number=call.from_number,
            to_number=call.to_number,
            status=call.status,
            streaming_mode=call.streaming_mode,
            record_call=call.record_call,
            browser_session_id=call.browser_session_id,
            session_id=call.session_id,
            disconnect_reason=call.disconnect_reason,
            voicemail_message=call.voicemail_message,
            answered_by=call.answered_by,
            created_at=call.created_at,
            connected_at=call.connected_at,
            ended_at=call.ended_at,
            media_connected_at=call.media_connected_at,
        )


def call_get(call_connection_id: str) -> CallRecord | None:
    """The call ACS knows as `call_connection_id`, or None (blank ids match nothing)."""
    if not call_connection_id:
        return None
    call = Call.objects.filter(call_connection_id=call_connection_id).first()
    return CallRecord.from_model(call) if call else None


def call_list(*, status: str | None = None) -> QuerySet[Call]:
    """Calls, newest first, optionally with one status."""
    calls = Call.objects.all()
    if status:
        calls = calls.filter(status=status)
    return calls.order_by("-created_at", "-id")


def call_of_session(*, session_id: str, call_connection_id: str = "") -> Call | None:
    """The latest call that carried conversation `session_id` (None: not a phone call's)."""
    linked = Q(session_id=session_id) | Q(call_connection_id=session_id)
    if call_connection_id:
        linked |= Q(call_connection_id=call_connection_id)
    return Call.objects.filter(linked).order_by("-created_at").first()
