"""Writes of the media app: transcripts of transcription-only calls, simulated calls.

Conversations (`media` and `voice_live` calls) are persisted by `media.conversation`; a
transcription-only call has no conversation, so its transcript is stored here as the turns of
its session (`metrics`), each final as it arrives, and relayed live to the session's and the
dashboards' channel-layer groups.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from channels.db import database_sync_to_async
from django.db import OperationalError, transaction

from browser.protocol import encode_event
from browser.relay import relay_envelope_async
from media.engine.events import TurnMetrics, UserTranscript

logger = logging.getLogger(__name__)


async def relay_event(*, session_id: str, call_connection_id: str, event: Any) -> None:
    """Broadcast an engine event as its envelope to its session and the dashboards."""
    envelope = encode_event(event, session_id=session_id, call_id=call_connection_id)
    if envelope is not None:
        await relay_envelope_async(envelope)


@dataclass(slots=True)
class CallTranscript:
    """The stored transcript of one transcription-only call (one per media socket)."""

    session_id: str
    call_connection_id: str
    history: list[dict[str, Any]] = field(default_factory=list)
    next_turn_id: int = 1
    finals: int = 0

    async def record(self, event: UserTranscript) -> None:
        """Relay a transcript; store it when final (a turn with the caller's words only).

        Turns are numbered here (the session's count goes on across reconnects).
        """
        from metrics import services as metrics

        event = replace(event, turn_id=self.next_turn_id)
        await relay_event(
            session_id=self.session_id, call_connection_id=self.call_connection_id, event=event
        )
        if not event.is_final:
            return
        self.finals += 1
        self.next_turn_id += 1
        self.history.append({"role": "user", "content": event.text})
        metrics.turn_record(
            session_id=self.session_id,
            metrics=TurnMetrics(self.session_id, event.turn_id, agent="", user_text=event.text),
        )
        metrics.session_state_save(
            session_id=self.session_id, active_agent="", history=self.history, tool_state={}
        )

    async def close(self) -> None:
        from metrics import services as metrics

        metrics.session_close(session_id=self.session_id)


async def call_transcript_start(*, session_id: str, call_connection_id: str) -> CallTranscript:
    """Open (or resume, after a reconnect) the session that stores a call's transcript."""
    from metrics import services as metrics
    from metrics.selectors import session_state_get

    state = None
    for attempt in range(3):
        try:
            state = await database_sync_to_async(session_state_get)(session_id)
            break
        except OperationalError:  # a locked SQLite database: a writer is busy, retry
            if attempt == 2:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    history = list(state.history) if state else []
    metrics.session_open(
        session_id=session_id,
        transport="acs",
        call_connection_id=call_connection_id,
        streaming_mode="transcription",
    )
    users = sum(1 for m in history if m.get("role") == "user")
    return CallTranscript(session_id, call_connection_id, history, next_turn_id=users + 1)


@transaction.atomic
def simulated_call_create(
    *,
    streaming_mode: str,
    from_number: str = "+14255550100",
    to_number: str = "+14255550199",
    session_id: str = "",
) -> tuple[str, str]:
    """A connected inbound call record for `simulate_call`, as if ACS had answered one.

    Returns `(call_connection_id, session_id)`. Used when no ACS (real or fake) is configured,
    so that the media socket accepts the simulated caller.
    """
    from calls.models import Call

    call_connection_id = f"sim-{uuid.uuid4()}"
    call = Call(
        call_connection_id=call_connection_id,
        server_call_id=f"sim-server-{uuid.uuid4().hex}",
        correlation_id=str(uuid.uuid4()),
        direction=Call.Direction.INBOUND,
        from_number=from_number,
        to_number=to_number,
        status=Call.Status.CONNECTED,
        streaming_mode=streaming_mode,
        session_id=session_id or call_connection_id,
        caller_display_name="simulate_call",
    )
    call.full_clean()
    call.save()
    return call_connection_id, call.session_id


@transaction.atomic
def simulated_call_end(*, call_connection_id: str) -> None:
    """Mark a simulated call as hung up."""
    from django.utils import timezone

    from calls.models import Call

    Call.objects.filter(call_connection_id=call_connection_id).exclude(
        status__in=Call.FINAL_STATUSES
    ).update(
        status=Call.Status.DISCONNECTED,
        ended_at=timezone.now(),
        disconnect_reason="simulate_call hung up",
    )
