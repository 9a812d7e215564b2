"""The conversation: a consumer's handle on one engine session (see :mod:`media.conversation`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from channels.db import database_sync_to_async

from media.conversation.observers import DashboardRelay, SessionRecorder
from media.conversation.redaction import ConversationRedaction
from media.conversation.setup import conversation_setup_load, engine_config, engine_create
from media.engine.config import EngineConfig
from media.engine.events import AudioFrame, CallEnd, Event, TurnMetrics
from media.engine.session import SessionStartError
from media.modes import CONVERSATION_MODES
from media.providers.base import ProviderStartError

logger = logging.getLogger(__name__)

TRANSPORTS = ("browser", "acs")
# Closing waits this long at most for the dashboard relay and for the session's writes: under
# load the socket server gives up on a consumer after its close timeout (daphne: 10 s) and
# cancels it; the writes land later all the same.
RELAY_DRAIN_TIMEOUT_S = 1.0
FLUSH_TIMEOUT_S = 5.0
# Closes finished after their consumer's task was cancelled (`Conversation.abandon`).
_abandoned: set[asyncio.Task] = set()


class ConversationStartError(RuntimeError):
    """The conversation cannot start (a provider failed, no agent is loaded)."""


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
        call_connection_id: str | None = None,
        user_id: int | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
        if streaming_mode not in CONVERSATION_MODES:
            raise ValueError(f"streaming_mode must be one of {', '.join(CONVERSATION_MODES)}")
        self.session_id = session_id
        self.transport = transport
        self.streaming_mode = streaming_mode
        self.call_connection_id = call_connection_id
        self.user_id = user_id
        self.resumed = False
        self.uses_realtime_service = False
        self._emit = emit
        self._engine: Any = None
        self._relay: DashboardRelay | None = None
        self._recorder: SessionRecorder | None = None
        self._tts_lease: Any = None  # the pooled synthesizer (`media.speech.PooledTTS`)
        self._closed = False
        self._abandoned = False  # its close goes on in a task of its own (`abandon`)
        self._stored = False  # closed: nothing more is written for the session
        self.redaction = ConversationRedaction("off")

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        *,
        output_sample_rate_hz: int,
        user_email: str | None = None,
        trace_headers: Mapping[str, str] | None = None,
        config: EngineConfig | None = None,
        **conversation: Any,
    ) -> Conversation:
        """Start a conversation (`conversation`: the arguments of the class); its greeting is
        under way when this returns.

        Raises:
            ConversationStartError: a provider could not start, or no agent is loaded.
        """
        self = cls(**conversation)
        await self._start(output_sample_rate_hz, user_email, trace_headers, config)
        return self

    async def _start(self, output_sample_rate_hz, user_email, trace_headers, config) -> None:
        try:
            setup = await database_sync_to_async(conversation_setup_load)(
                session_id=self.session_id, user_email=user_email, user_id=self.user_id
            )
        except LookupError as exc:
            raise ConversationStartError(str(exc)) from exc
        self.redaction = ConversationRedaction(setup.redaction_mode)
        self._recorder = SessionRecorder(session_id=self.session_id, redaction=self.redaction)
        self.resumed = setup.resumed
        self._engine, self._tts_lease = engine_create(
            streaming_mode=self.streaming_mode,
            redaction=self.redaction,
            session_id=self.session_id,
            emit=self._on_event,
            output_sample_rate_hz=output_sample_rate_hz,
            config=config or engine_config(),
            **setup.session_kwargs(),
        )
        self.uses_realtime_service = self._tts_lease is None
        self._recorder.open(
            transport=self.transport,
            call_connection_id=self.call_connection_id,
            user_id=self.user_id,
            streaming_mode=self.streaming_mode,
            trace_headers=trace_headers,
        )
        self._relay = DashboardRelay(
            session_id=self.session_id,
            call_id=self.call_connection_id,
            user_id=self.user_id,
            redaction=self.redaction,
        )
        try:
            await self._engine.start()
        except (SessionStartError, ProviderStartError) as exc:
            await self._shutdown(status="failed")
            raise ConversationStartError(str(exc)) from exc
        except asyncio.CancelledError:
            self.abandon(status="failed")  # the consumer never got this conversation
            raise
        self._relay.inventory(
            setup.roster,
            active_agent=self.active_agent,
            transport=self.transport,
            streaming_mode=self.streaming_mode,
            resumed=self.resumed,
        )

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
        self._recorder.close(status=status)  # once, if a cancelled close got this far
        if self._relay is not None:
            await self._relay.drain(RELAY_DRAIN_TIMEOUT_S)
        self._stored = True  # from here on, nothing the flush below would not wait for
        await self._recorder.written(FLUSH_TIMEOUT_S)

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
        self._relay.event(event)
        self._recorder.event(event)
        if type(event) is TurnMetrics:
            self._save_state()
        return result

    def _save_state(self) -> None:
        if self._engine is not None and self._recorder is not None:
            self._recorder.save_state(self._engine)
