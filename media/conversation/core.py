"""The conversation: a consumer's handle on one engine session (see :mod:`media.conversation`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from agentbuilder import selectors as agents
from browser.protocol import encode_event, make_envelope
from browser.relay import relay_envelope_async
from media.conversation.redaction import ConversationRedaction
from media.engine.config import EngineConfig
from media.engine.events import (
    AgentChange,
    AudioFrame,
    CallEnd,
    Event,
    SessionError,
    TurnMetrics,
)
from media.engine.session import ConversationSession, SessionStartError
from media.modes import CONVERSATION_MODES, StreamMode
from media.providers.base import ProviderStartError
from media.speech import realtime_factory, session_providers
from metrics import selectors as metrics_selectors
from metrics import services as metrics

logger = logging.getLogger(__name__)

TRANSPORTS = ("browser", "acs")
RELAY_QUEUE_MAX = 1000
# Closing waits this long at most for the dashboard relay and for the session's writes: under
# load the socket server gives up on a consumer after its close timeout (daphne: 10 s) and
# cancels it; the writes land later all the same.
RELAY_DRAIN_TIMEOUT_S = 1.0
FLUSH_TIMEOUT_S = 5.0
# Closes finished after their consumer's task was cancelled (`Conversation.abandon`).
_abandoned: set[asyncio.Task] = set()


class ConversationStartError(RuntimeError):
    """The conversation cannot start (a provider failed, no agent is loaded)."""


def _caller_context(
    email: str, session_id: str, user_id: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Template variables and tool state for a demo caller known by email (sync, ORM).

    Only a profile of the client's own is preloaded: made by its signed-in user, or made in
    this session (which the consumer has checked is the client's).
    """
    user = agents.demo_user_own(email=email, user_id=user_id, session_id=session_id)
    if user is None:
        return {}, {}
    variables = agents.caller_variables(user)
    # Who the caller says they are, not who they proved to be: the tools treat only the
    # `client_id` set by a passed identity check as verified.
    return variables, {"profile_client_id": user.client_id}


class Conversation:
    """A running conversation for one consumer. See the module docstring.

    All methods run on the consumer's event loop.
    """

    def __init__(
        self,
        *,
        session_id: str,
        transport: str,
        emit: Callable[[Event], Awaitable[None] | None],
        streaming_mode: str,
        call_connection_id: str | None,
        user_id: int | None,
    ) -> None:
        self.session_id = session_id
        self.transport = transport
        self.streaming_mode = streaming_mode
        self.call_connection_id = call_connection_id
        self.user_id = user_id
        self.resumed = False
        self.uses_realtime_service = False
        self._emit = emit
        self._engine: Any = None
        self._relay_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(RELAY_QUEUE_MAX)
        self._relay_task: asyncio.Task | None = None
        self._tts_lease: Any = None  # the pooled synthesizer (`media.speech.PooledTTS`)
        self._closed = False
        self._close_recorded = False  # the session's close is submitted
        self._abandoned = False  # its close goes on in a task of its own (`abandon`)
        self._stored = False  # closed: nothing more is written for the session
        self.redaction = ConversationRedaction("off")

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        *,
        session_id: str,
        transport: str,
        emit: Callable[[Event], Awaitable[None] | None],
        output_sample_rate_hz: int,
        streaming_mode: str,
        user_id: int | None = None,
        call_connection_id: str | None = None,
        user_email: str | None = None,
        trace_headers: Mapping[str, str] | None = None,
        config: EngineConfig | None = None,
    ) -> Conversation:
        """Start a conversation (its greeting is under way when this returns).

        Raises:
            ConversationStartError: a provider could not start, or no agent is loaded.
        """
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
        if streaming_mode not in CONVERSATION_MODES:
            raise ValueError(f"streaming_mode must be one of {', '.join(CONVERSATION_MODES)}")
        self = cls(
            session_id=session_id,
            transport=transport,
            emit=emit,
            streaming_mode=streaming_mode,
            call_connection_id=call_connection_id,
            user_id=user_id,
        )
        await self._start(output_sample_rate_hz, user_email, trace_headers, config)
        return self

    async def _start(self, output_sample_rate_hz, user_email, trace_headers, config) -> None:
        state = await database_sync_to_async(metrics_selectors.session_state_get)(self.session_id)
        variables: dict[str, Any] = {}
        tool_state: dict[str, Any] = dict(state.tool_state) if state else {}
        if user_email:
            caller_vars, caller_state = await database_sync_to_async(_caller_context)(
                user_email, self.session_id, self.user_id
            )
            variables.update(caller_vars)
            tool_state = {**caller_state, **tool_state}
        try:
            roster = await database_sync_to_async(agents.roster_build)(
                session_id=self.session_id, variables=variables
            )
        except LookupError as exc:
            raise ConversationStartError(str(exc)) from exc
        mode = await database_sync_to_async(agents.pii_redaction_mode)(
            agent_names=list(roster.agents)
        )
        self.redaction = ConversationRedaction(mode)
        tool_runner = self.redaction.tool_runner(agents.tool_runner_for(roster))
        self.resumed = state is not None and bool(state.history or state.active_agent)
        config = config or EngineConfig(
            end_of_turn_silence_ms=settings.END_OF_TURN_SILENCE_MS,
            barge_in_pause_ms=settings.BARGE_IN_PAUSE_MS,
            llm_first_token_timeout_s=settings.LLM_TIMEOUT_S,
            llm_idle_timeout_s=settings.LLM_TIMEOUT_S,
            tts_timeout_s=settings.TTS_TIMEOUT_S,
            tool_timeout_s=settings.TOOL_TIMEOUT_S,
        )
        session_kwargs = dict(
            session_id=self.session_id,
            roster=roster,
            tool_runner=tool_runner,
            emit=self._on_event,
            output_sample_rate_hz=output_sample_rate_hz,
            config=config,
            history=list(state.history) if state else None,
            active_agent=state.active_agent if state else None,
            resumed=self.resumed,
            tool_state=tool_state,
            turns_before=state.turn_count if state else 0,
        )
        realtime = realtime_factory() if self.streaming_mode == StreamMode.VOICE_LIVE else None
        if realtime is not None:
            self.uses_realtime_service = True
            self._engine = realtime.create(**session_kwargs)
        else:
            providers = session_providers(self.session_id, roster)
            providers = replace(providers, llm=self.redaction.llm(providers.llm))
            self._tts_lease = providers.tts
            self._engine = ConversationSession(providers=providers, **session_kwargs)

        trace_context = None
        if trace_headers:
            from voiceproject.tracing import context_from_headers

            trace_context = context_from_headers(trace_headers)
        metrics.session_open(
            session_id=self.session_id,
            transport=self.transport,
            call_connection_id=self.call_connection_id,
            user_id=self.user_id,
            streaming_mode=self.streaming_mode,
            trace_context=trace_context,
        )
        self._relay_task = asyncio.create_task(self._relay_loop())
        try:
            await self._engine.start()
        except (SessionStartError, ProviderStartError) as exc:
            await self._shutdown(status="failed")
            raise ConversationStartError(str(exc)) from exc
        except asyncio.CancelledError:
            self.abandon(status="failed")  # the consumer never got this conversation
            raise
        self._relay(self._inventory_envelope(roster))

    # -- the consumer's controls --------------------------------------------------------------

    @property
    def active_agent(self) -> str:
        return self._engine.active_agent if self._engine else ""

    def push_audio(self, pcm16: bytes, sample_rate_hz: int = 16000) -> None:
        self._engine.push_audio(pcm16, sample_rate_hz)

    async def send_text(self, text: str) -> None:
        await self._engine.send_text(text)

    def push_dtmf(self, digits: str) -> None:
        self._engine.push_dtmf(digits)

    async def interrupt(self, reason: str = "client_stop") -> bool:
        return bool(await self._engine.interrupt(reason))

    async def close(self, *, status: str = "completed") -> None:
        """Stop the engine, save the session's state, and wait until it is written."""
        if self._closed:
            return
        self._save_state()
        await self._shutdown(status=status)

    def abandon(self, *, status: str = "completed") -> None:
        """The consumer's task is being cancelled (the server stopped waiting for it to end):
        give the pooled synthesizer back now, and finish closing in a task of its own.

        Synchronous, so that it runs in the consumer's `finally` whatever was awaited there.
        """
        self._release_lease()
        if self._stored or self._abandoned:
            return
        self._abandoned = True
        if not self._closed:
            self._save_state()
        task = asyncio.get_running_loop().create_task(self._shutdown(status=status))
        _abandoned.add(task)
        task.add_done_callback(_abandoned.discard)

    def _release_lease(self) -> None:
        lease = self._tts_lease
        if lease is not None:
            lease.release()

    async def _shutdown(self, *, status: str) -> None:
        try:
            await self._shutdown_steps(status)
        except asyncio.CancelledError:
            self.abandon(status=status)  # the consumer was cancelled while closing
            raise

    async def _shutdown_steps(self, status: str) -> None:
        self._closed = True
        try:
            if self._engine is not None:
                try:
                    await self._engine.close()
                except Exception:
                    logger.exception("session %s: engine close failed", self.session_id)
                await self._events_delivered()
        finally:
            self._release_lease()  # closed or cancelled, the pool gets its synthesizer back
        if not self._close_recorded:  # else a close cancelled past here, finished by `abandon`
            self._close_recorded = True
            metrics.session_close(session_id=self.session_id, status=status)
        if self._relay_task is not None:
            try:
                await asyncio.wait_for(self._relay_queue.join(), RELAY_DRAIN_TIMEOUT_S)
            except TimeoutError:
                logger.warning("session %s: dashboard relay not drained at close", self.session_id)
            finally:
                self._relay_task.cancel()
        self._stored = True  # from here on, nothing the flush below would not wait for
        try:
            await asyncio.wait_for(metrics.flush(), FLUSH_TIMEOUT_S)
        except metrics.DatabaseUnavailable:
            logger.warning(
                "session %s: the database is down; its turns and state are stored once it is back",
                self.session_id,
            )
        except TimeoutError:
            logger.warning("session %s: writes still queued at close", self.session_id)

    async def _events_delivered(self, timeout_s: float = 1.0) -> None:
        """Wait (bounded) for the events the engine emitted while closing, such as the last
        turn's metrics, to pass through `_on_event`: they are stored with the session."""
        emitter = getattr(self._engine, "emitter", None)
        if emitter is None:
            return
        try:
            await asyncio.wait_for(emitter.wait_idle(), timeout_s)
        except TimeoutError:
            logger.warning("session %s: events still queued at close", self.session_id)

    # -- events -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> Awaitable[None] | None:
        """Engine → consumer first (the audio path), then relay and persistence (queued)."""
        if type(event) is CallEnd and self._closed:
            return None  # the transport is already ending the conversation
        result = self._emit(event)
        if type(event) is AudioFrame:
            return result
        if self._stored:
            # A cancelled task's last event after the session was stored and closed: writing
            # it would bring back a session that has been ended (or erased) since.
            logger.debug("session %s: %s after close not stored", self.session_id, type(event))
            return result
        self._relay_event(event)
        if type(event) is TurnMetrics:
            metrics.turn_record(session_id=self.session_id, metrics=self.redaction.turn(event))
            self._save_state()
        elif type(event) is AgentChange:
            metrics.session_agent_change(session_id=self.session_id, agent=event.agent)
        elif type(event) is SessionError:
            metrics.session_error(
                session_id=self.session_id,
                stage=event.stage,
                message=self.redaction.text(event.message),
            )
        return result

    def _save_state(self) -> None:
        if self._engine is None:
            return
        metrics.session_state_save(
            session_id=self.session_id,
            active_agent=self._engine.active_agent,
            history=self.redaction.value(list(self._engine.history)),
            tool_state=dict(self._engine.tool_state),
        )

    def _relay_event(self, event: Event) -> None:
        envelope = encode_event(
            event, session_id=self.session_id, call_id=self.call_connection_id, user_id=self.user_id
        )
        if envelope is not None:
            self._relay(envelope)

    def _relay(self, envelope: dict[str, Any]) -> None:
        try:
            self._relay_queue.put_nowait(envelope)
        except asyncio.QueueFull:
            logger.warning("session %s: dashboard relay queue full, dropped", self.session_id)

    async def _relay_loop(self) -> None:
        while True:
            envelope = await self._relay_queue.get()
            try:
                await relay_envelope_async(self.redaction.value(envelope))
            finally:
                self._relay_queue.task_done()

    def _inventory_envelope(self, roster) -> dict[str, Any]:
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
            "active_agent": self.active_agent,
            "agent_count": len(summary),
            "agents": summary,
            "transport": self.transport,
            "streaming_mode": self.streaming_mode,
            "resumed": self.resumed,
        }
        return make_envelope(
            type="event",
            payload=payload,
            session_id=self.session_id,
            topic="dashboard",
            call_id=self.call_connection_id,
        )
