"""Writes of the media app: transcripts of transcription-only calls.

Conversations (`media` and `voice_live` calls) are persisted by `media.conversation`; a
transcription-only call has no conversation, so its transcript is stored here as the turns of
its session (`metrics`), each final as it arrives, and relayed live to the session's and the
dashboards' channel-layer groups.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import OperationalError

from browser.protocol import encode_event
from browser.relay import relay_envelope_async
from media.engine.events import TurnMetrics, UserTranscript
from media.modes import StreamMode
from media.redaction import OFF, redact

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
        if settings.PII_REDACTION != OFF:  # no agent here: the global setting applies
            event = replace(event, text=redact(event.text))
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
        streaming_mode=StreamMode.TRANSCRIPTION,
    )
    users = sum(1 for m in history if m.get("role") == "user")
    return CallTranscript(session_id, call_connection_id, history, next_turn_id=users + 1)
