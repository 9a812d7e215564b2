"""What a conversation does with the engine's events besides sending them to the caller.

Two observers of the event stream, each fed by :class:`media.conversation.Conversation` after
the consumer has the event (the audio path never waits on them):

- :class:`DashboardRelay` turns events into dashboard envelopes and sends them through the
  channel layer from one background task, in order, through a bounded queue (full: dropped
  and logged).
- :class:`SessionRecorder` hands turns, agent changes, errors and the saved state to the
  metrics writer thread (`metrics.services`), which applies them in submission order.

Both write what the conversation's :class:`ConversationRedaction` lets through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from browser.protocol import encode_event, make_envelope
from browser.relay import relay_envelope_async
from media.conversation.redaction import ConversationRedaction
from media.engine.events import AgentChange, Event, SessionError, TurnMetrics
from metrics import services as metrics

logger = logging.getLogger(__name__)

RELAY_QUEUE_MAX = 1000


class DashboardRelay:
    """Dashboard envelopes of one session, sent in order by one task (see the module)."""

    def __init__(
        self,
        *,
        session_id: str,
        call_id: str | None,
        user_id: int | None,
        redaction: ConversationRedaction,
    ) -> None:
        self.session_id = session_id
        self.call_id = call_id
        self.user_id = user_id
        self.redaction = redaction
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(RELAY_QUEUE_MAX)
        self._task = asyncio.create_task(self._send_loop())

    def event(self, event: Event) -> None:
        envelope = encode_event(
            event, session_id=self.session_id, call_id=self.call_id, user_id=self.user_id
        )
        if envelope is not None:
            self.send(envelope)

    def send(self, envelope: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(envelope)
        except asyncio.QueueFull:
            logger.warning("session %s: dashboard relay queue full, dropped", self.session_id)

    def inventory(self, roster, *, active_agent: str, **conversation: Any) -> None:
        """The `agent_inventory` event: the session's agents, and `conversation`'s fields
        (transport, streaming mode, resumed)."""
        summary = [
            {
                "name": a.name,
                "description": a.description[:160],
                "greeting": bool(a.greeting),
                "return_greeting": bool(a.return_greeting),
                "tool_count": len(a.tools),
                "tools_preview": [t.name for t in a.tools[:5]],
                "handoff_trigger": a.handoff_trigger,
                "voice": a.voice.name,
            }
            for a in roster.agents.values()
        ]
        payload = {
            "type": "agent_inventory",
            "event_type": "agent_inventory",
            "start_agent": roster.entry_agent,
            "active_agent": active_agent,
            "agent_count": len(summary),
            "agents": summary,
            **conversation,
        }
        self.send(
            make_envelope(
                type="event",
                payload=payload,
                session_id=self.session_id,
                topic="dashboard",
                call_id=self.call_id,
            )
        )

    async def drain(self, timeout_s: float) -> None:
        """Send what is queued (waiting `timeout_s` at most), then stop."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            logger.warning("session %s: dashboard relay not drained at close", self.session_id)
        finally:
            self._task.cancel()

    async def _send_loop(self) -> None:
        while True:
            envelope = await self._queue.get()
            try:
                await relay_envelope_async(self.redaction.value(envelope))
            finally:
                self._queue.task_done()


class SessionRecorder:
    """The session's record in the database, written through the metrics writer."""

    def __init__(self, *, session_id: str, redaction: ConversationRedaction) -> None:
        self.session_id = session_id
        self.redaction = redaction
        self._closed = False

    def open(self, *, trace_headers: Mapping[str, str] | None, **session: Any) -> None:
        """The session's row: `session` holds its transport, call, user and streaming mode."""
        trace_context = None
        if trace_headers:
            from voiceproject.tracing import context_from_headers

            trace_context = context_from_headers(trace_headers)
        metrics.session_open(session_id=self.session_id, trace_context=trace_context, **session)

    def event(self, event: Event) -> None:
        if type(event) is TurnMetrics:
            metrics.turn_record(session_id=self.session_id, metrics=self.redaction.turn(event))
        elif type(event) is AgentChange:
            metrics.session_agent_change(session_id=self.session_id, agent=event.agent)
        elif type(event) is SessionError:
            metrics.session_error(
                session_id=self.session_id,
                stage=event.stage,
                message=self.redaction.text(event.message),
            )

    def save_state(self, engine: Any) -> None:
        """What a resumed session starts from: the active agent, history and tool state."""
        metrics.session_state_save(
            session_id=self.session_id,
            active_agent=engine.active_agent,
            history=self.redaction.value(list(engine.history)),
            tool_state=dict(engine.tool_state),
        )

    def close(self, *, status: str) -> None:
        """The session ended with `status` (recorded once)."""
        if not self._closed:
            self._closed = True
            metrics.session_close(session_id=self.session_id, status=status)

    async def written(self, timeout_s: float) -> None:
        """Wait (`timeout_s` at most) until everything recorded so far is in the database; while
        it is down, the writer keeps the writes and stores them once it is back."""
        try:
            await asyncio.wait_for(metrics.flush(), timeout_s)
        except metrics.DatabaseUnavailable:
            logger.warning(
                "session %s: the database is down; its turns and state are stored once it is back",
                self.session_id,
            )
        except TimeoutError:
            logger.warning("session %s: writes still queued at close", self.session_id)
