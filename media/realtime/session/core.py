"""The realtime session: public API, connection to the service and outbound events.

The session owns its parts and dispatches the service's events to them:
:class:`~media.realtime.session.turns.RealtimeTurns` (turns, responses, barge-in, reports) and
:class:`~media.realtime.session.tools.RealtimeTools` (tools and handoffs); both reach it through
:class:`~media.realtime.session.turns.RealtimeHost`.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import logging
from collections.abc import Callable
from typing import Any

from media.engine.audio import StreamResampler
from media.engine.dtmf import DtmfCollector
from media.engine.events import SessionError
from media.engine.session_base import SessionBase
from media.engine.snapshot import AgentSnapshot
from media.providers.base import ProviderStartError
from media.realtime.endpoint import RealtimeEndpoint, is_loopback
from media.realtime.protocol import (
    REALTIME_SAMPLE_RATE_HZ,
    message_item,
    normalize_event_type,
    session_config,
)
from media.realtime.session.state import RealtimeStartError
from media.realtime.session.tools import RealtimeTools
from media.realtime.session.turns import RealtimeTurns

logger = logging.getLogger(__name__)

_MAX_EVENT_BYTES = 16 * 1024 * 1024
# Errors the service reports for a cancel or truncate that raced its own cancellation.
_BENIGN_ERRORS = frozenset({"response_cancel_not_active", "item_truncate_invalid_item_id"})


class RealtimeSession(SessionBase):
    """One conversation over a realtime service WebSocket (raw JSON events, both dialects).

    Same public API and events as :class:`~media.engine.session.ConversationSession`:
    `start`, `push_audio`, `send_text`, `push_dtmf`, `interrupt`, `close`; `turn_id`,
    `active_agent`, `history`, `tool_state`, `agent_speaking`.

    Barge-in: the service's `input_audio_buffer.speech_started` (or typed text, DTMF or
    :meth:`interrupt`) while the agent speaks runs synchronously on the loop, through the
    same :class:`~media.engine.output.AgentAudio` stop as the cascade: the pacer is cleared,
    queued frames of the turn are purged, `conversation.item.truncate` (at the milliseconds
    actually played) plus `response.cancel` are queued for the service, and `BargeIn` is
    emitted; deltas of the cancelled response that arrive later are dropped.
    So no `AudioFrame` of a cancelled turn follows its `BargeIn`.

    Threading: all methods run on the loop that called :meth:`start`. Tools run in the worker
    pool (one at a time per session, they share `tool_state`); results come back through the
    loop's :class:`~media.engine.threads.ThreadBridge`. Outbound events leave through one
    writer task in the order they were queued.
    """

    def __init__(
        self,
        *,
        endpoint: RealtimeEndpoint,
        output_sample_rate_hz: int = REALTIME_SAMPLE_RATE_HZ,
        connect_timeout_s: float = 10.0,
        **conversation: Any,
    ) -> None:
        """`conversation`: the arguments of :class:`~media.engine.session_base.SessionBase`."""
        super().__init__(output_sample_rate_hz=output_sample_rate_hz, **conversation)
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        self.events_received = 0
        self.turns = turns = RealtimeTurns(self)
        self.tools = tools = RealtimeTools(self, turns)
        self._ws: Any = None
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._writer: asyncio.Task | None = None
        self._input_resampler: StreamResampler | None = None
        self._dtmf = DtmfCollector(self._on_dtmf, flush_ms=self.config.dtmf_flush_ms)
        self._lost = False
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "input_audio_buffer.speech_started": turns.on_speech_started,
            "input_audio_buffer.speech_stopped": turns.on_speech_stopped,
            "conversation.item.input_audio_transcription.delta": turns.on_transcription_delta,
            "conversation.item.input_audio_transcription.completed": turns.on_transcription_done,
            "response.created": turns.on_response_created,
            "response.audio.delta": turns.on_audio_delta,
            "response.audio_transcript.delta": turns.on_transcript_delta,
            "response.audio_transcript.done": turns.on_transcript_done,
            "response.text.delta": turns.on_transcript_delta,
            "response.function_call_arguments.done": tools.on_function_call_done,
            "response.done": self._on_response_done,
            "error": self._on_error,
        }

    # -- public API -------------------------------------------------------------------------

    @property
    def agent_speaking(self) -> bool:
        return self.audio is not None and self.turns.agent_speaking

    @property
    def truncations(self) -> list[tuple[str, int]]:
        """`(item_id, audio_end_ms)` of every truncate sent to the service."""
        return self.turns.truncations

    @property
    def dialect(self) -> str:
        return self.endpoint.dialect

    async def start(self) -> None:
        """Connect, configure the active agent, replay history, and greet.

        Raises:
            RealtimeStartError: the service is unreachable or refused the configuration.
        """
        if self._started:
            return
        from websockets.asyncio.client import connect

        self._start_audio(on_frame=self.turns.on_frame_sent, on_audio_end=self.turns.on_audio_end)
        url = self.endpoint.url
        try:
            headers = await self.endpoint.headers()
            kwargs: dict[str, Any] = {
                "additional_headers": headers,
                "open_timeout": self.connect_timeout_s,
                "max_size": _MAX_EVENT_BYTES,
                "compression": None,
            }
            if is_loopback(url):
                kwargs["proxy"] = None
            self._ws = await connect(url, **kwargs)
            async with asyncio.timeout(self.connect_timeout_s):
                await self._expect("session.created")
                update = self.session_update(self.roster.get(self.active_agent))
                await self._ws.send(json.dumps(update))
                await self._expect("session.updated")
        except ProviderStartError as exc:
            await self._abort()
            raise RealtimeStartError(f"{self.endpoint.provider}: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            await self._abort()
            raise RealtimeStartError(
                f"{self.endpoint.label} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        except Exception as exc:
            await self._abort()
            raise RealtimeStartError(f"{self.endpoint.label}: {type(exc).__name__}: {exc}") from exc
        self._writer = self.loop.create_task(self._write(), name=f"realtime-out-{self.session_id}")
        self._reader = self.loop.create_task(self._read(), name=f"realtime-in-{self.session_id}")
        self._started = True
        self._replay_history()
        agent = self.roster.get(self.active_agent)
        greeting = (agent.return_greeting or agent.greeting) if self.resumed else agent.greeting
        if greeting:
            turn = self.turns.new_turn("", started_at=self.loop.time())
            turn.is_greeting = True
            self.say(greeting)

    def push_audio(self, pcm16: bytes, sample_rate_hz: int = 16000) -> None:
        """Caller audio, PCM16 mono at any rate and chunk size (resampled to 24 kHz)."""
        if not self._started or self._closed or not pcm16:
            return
        if sample_rate_hz != REALTIME_SAMPLE_RATE_HZ:
            resampler = self._input_resampler
            if resampler is None or resampler.in_rate_hz != sample_rate_hz:
                resampler = self._input_resampler = StreamResampler(
                    sample_rate_hz, REALTIME_SAMPLE_RATE_HZ
                )
            pcm16 = resampler.process(pcm16)
            if not pcm16:
                return
        self._outbox.put_nowait(
            '{"type":"input_audio_buffer.append","audio":"'
            + binascii.b2a_base64(pcm16, newline=False).decode("ascii")
            + '"}'
        )

    async def send_text(self, text: str) -> None:
        text = text.strip()
        if text and self._started and not self._closed:
            self.turns.user_message(text, source="text")

    def push_dtmf(self, digits: str) -> None:
        """DTMF tones; sent to the agent as one text message after a pause or on '#'."""
        if not self._started or self._closed:
            return
        self._dtmf.push(digits)

    async def interrupt(self, reason: str = "stop") -> bool:
        """Stop the agent now. Returns False when it was not speaking."""
        if not self._started:
            return False
        return self.turns.barge_in(reason, self.loop.time())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._dtmf.close()
        if self.pacer is not None:
            self.pacer.clear()
        for response in self.turns.responses():
            for job in response.tool_jobs.values():
                job.cancel()
        if self._writer is not None:
            self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
            except (TimeoutError, Exception):  # noqa: BLE001 - closing anyway
                self._writer.cancel()
        if self._reader is not None:
            self._reader.cancel()
        await self._abort()

    # -- outbound -----------------------------------------------------------------------------

    # -- RealtimeHost -------------------------------------------------------------------------

    def send(self, event: dict[str, Any]) -> None:
        """Queue `event` for the service (sent by the writer task, in queue order)."""
        self._outbox.put_nowait(json.dumps(event))

    def advance_turn(self, at_least: int | None) -> int:
        self._turn_id = max(self._turn_id + 1, at_least or 0)
        return self._turn_id

    def _on_dtmf(self, digits: str) -> None:
        self.turns.user_message(digits, source="dtmf")

    async def _write(self) -> None:
        ws = self._ws
        outbox = self._outbox
        try:
            while True:
                message = await outbox.get()
                if message is None:
                    return
                await ws.send(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as a session error
            self._connection_lost(exc)

    async def _abort(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except Exception:  # noqa: BLE001 - the socket is going away either way
                logger.debug("session %s: realtime socket close failed", self.session_id)

    def session_update(self, agent: AgentSnapshot, suffix: str = "") -> dict[str, Any]:
        """The `session.update` that configures the service for `agent`."""
        return {
            "type": "session.update",
            "session": session_config(
                agent,
                dialect=self.endpoint.dialect,
                azure_voices=self.endpoint.azure_voices,
                input_sample_rate_hz=REALTIME_SAMPLE_RATE_HZ,
                silence_ms=self.config.end_of_turn_silence_ms,
                instructions_suffix=suffix,
            ),
        }

    def _replay_history(self) -> None:
        """Give a resumed conversation its earlier turns (text only)."""
        dialect = self.endpoint.dialect
        for message in self.history[-40:]:
            role = message.get("role")
            content = message.get("content")
            if role in ("user", "assistant") and isinstance(content, str) and content:
                self.send(
                    {
                        "type": "conversation.item.create",
                        "item": message_item(dialect, role, content),
                    }
                )

    def say(self, text: str) -> None:
        """Ask the service to speak `text` as it is (greetings)."""
        self.send(
            {
                "type": "response.create",
                "response": {
                    "instructions": (f'Say exactly this to the caller, and nothing else: "{text}"')
                },
            }
        )

    # -- connection ------------------------------------------------------------------------------

    async def _expect(self, event_type: str) -> dict[str, Any]:
        while True:
            event = json.loads(await self._ws.recv())
            kind = normalize_event_type(str(event.get("type")))
            if kind == event_type:
                return event
            if kind == "error":
                error = event.get("error") or {}
                raise RealtimeStartError(
                    f"{self.endpoint.label} refused the session: {error.get('message') or error}"
                )

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                if self._closed:
                    return
                try:
                    event = json.loads(raw)
                except ValueError:
                    logger.warning("session %s: realtime sent a non-JSON frame", self.session_id)
                    continue
                self.events_received += 1
                try:
                    self._dispatch(event)
                except Exception:
                    logger.exception(
                        "session %s: realtime event %s failed", self.session_id, event.get("type")
                    )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as a session error
            self._connection_lost(exc)
            return
        if not self._closed:
            self._connection_lost(ConnectionError("the realtime service closed the connection"))

    def _connection_lost(self, exc: BaseException) -> None:
        if self._closed or self._lost:
            return
        self._lost = True
        logger.warning("session %s: realtime connection lost: %s", self.session_id, exc)
        self.emitter(
            SessionError(
                self.session_id,
                self._turn_id,
                stage="realtime",
                message=f"the realtime service connection was lost: {exc}",
                fatal=True,
            )
        )

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = normalize_event_type(str(event.get("type", "")))
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(event)

    def _on_response_done(self, event: dict[str, Any]) -> None:
        response = self.turns.on_response_done(event)
        if response is not None:  # its tool calls: outputs, then the next response
            self.loop.create_task(self.tools.finish(response, self.turns.turn))

    def _on_error(self, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        code = str(error.get("code") or "")
        if code in _BENIGN_ERRORS:
            return
        message = str(error.get("message") or error)
        logger.warning("session %s: realtime error %s: %s", self.session_id, code, message)
        self.emitter(
            SessionError(self.session_id, self._turn_id, stage="realtime", message=message)
        )
