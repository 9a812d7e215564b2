"""A conversation held by a realtime speech-to-speech service (Azure Voice Live, OpenAI realtime).

:class:`RealtimeSession` has the API and the events of the cascade's
:class:`~media.engine.session.ConversationSession`, so a transport cannot tell them apart: the
service does turn detection, recognition, the model and the voice; this class bridges audio
both ways, runs the agents' tools locally, switches agents on handoff, paces the service's
audio at real time and handles barge-in.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from media.engine.audio import FRAME_MS, StreamResampler
from media.engine.config import EngineConfig
from media.engine.dtmf import DtmfCollector
from media.engine.emitter import EventEmitter
from media.engine.events import (
    AgentChange,
    AssistantDelta,
    AssistantFinal,
    AudioFrame,
    BargeIn,
    Event,
    SessionError,
    ToolEnd,
    ToolStart,
    TurnMetrics,
    UserTranscript,
)
from media.engine.history import tool_call_message, tool_result_message, trim_history
from media.engine.pacing import OutputPacer, SpokenSegment
from media.engine.snapshot import AgentRoster, AgentSnapshot, ToolContext, ToolRunner
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers.base import ProviderStartError
from media.realtime.endpoint import RealtimeEndpoint, is_loopback
from media.realtime.protocol import (
    REALTIME_SAMPLE_RATE_HZ,
    message_item,
    normalize_event_type,
    session_config,
)

logger = logging.getLogger(__name__)

# Errors the service reports for a cancel or truncate that raced its own cancellation.
_BENIGN_ERRORS = frozenset({"response_cancel_not_active", "item_truncate_invalid_item_id"})
_MAX_EVENT_BYTES = 16 * 1024 * 1024


class RealtimeStartError(ProviderStartError):
    """The realtime service could not be reached or refused the session configuration."""


@dataclass(slots=True)
class _Response:
    """One `response.*` of the service, as far as this session has seen it."""

    id: str
    turn_id: int
    agent: str
    item_id: str = ""
    text: str = ""
    segment: SpokenSegment | None = None
    resampler: StreamResampler | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    tool_jobs: dict[str, asyncio.Future] = field(default_factory=dict)
    tool_started: dict[str, float] = field(default_factory=dict)
    audio_frames: int = 0
    done: bool = False


@dataclass(slots=True)
class _TurnState:
    turn_id: int
    user_text: str = ""
    started_at: float = 0.0  # end of speech, text arrival or session start
    speech_stopped_at: float | None = None
    stt_final_ms: float | None = None
    response_created_at: float | None = None
    first_delta_at: float | None = None
    first_audio_at: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tools: list[dict[str, Any]] = field(default_factory=list)
    responses: list[_Response] = field(default_factory=list)
    finished: bool = False
    is_greeting: bool = False


class RealtimeSession:
    """One conversation over a realtime service WebSocket (raw JSON events, both dialects).

    Same public API and events as :class:`~media.engine.session.ConversationSession`:
    `start`, `push_audio`, `send_text`, `push_dtmf`, `interrupt`, `close`; `turn_id`,
    `active_agent`, `history`, `tool_state`, `agent_speaking`.

    Barge-in: the service's `input_audio_buffer.speech_started` (or typed text, DTMF or
    :meth:`interrupt`) while the agent speaks runs synchronously on the loop: the pacer is
    cleared, queued frames of the turn are purged, `BargeIn` is emitted, and
    `conversation.item.truncate` (at the milliseconds actually played) plus `response.cancel`
    are queued for the service; deltas of the cancelled response that arrive later are dropped.
    So no `AudioFrame` of a cancelled turn follows its `BargeIn`.

    Threading: all methods run on the loop that called :meth:`start`. Tools run in the worker
    pool (one at a time per session, they share `tool_state`); results come back through the
    loop's :class:`~media.engine.threads.ThreadBridge`. Outbound events leave through one
    writer task in the order they were queued.
    """

    def __init__(
        self,
        *,
        session_id: str,
        roster: AgentRoster,
        tool_runner: ToolRunner,
        emit: Callable[[Event], Any],
        endpoint: RealtimeEndpoint,
        output_sample_rate_hz: int = REALTIME_SAMPLE_RATE_HZ,
        config: EngineConfig | None = None,
        history: list[dict[str, Any]] | None = None,
        active_agent: str | None = None,
        resumed: bool = False,
        tool_state: Mapping[str, Any] | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.session_id = session_id
        self.roster = roster
        self.tool_runner = tool_runner
        self.endpoint = endpoint
        self.output_sample_rate_hz = output_sample_rate_hz
        self.config = config or EngineConfig()
        self.history: list[dict[str, Any]] = list(history or [])
        if active_agent and active_agent not in roster.agents:
            active_agent = None
        self.active_agent: str = active_agent or roster.entry_agent
        self.visited_agents: set[str] = {self.active_agent}
        self.tool_state: dict[str, Any] = dict(tool_state or {})
        self.resumed = resumed
        self.emitter = EventEmitter(emit, session_id)
        self.connect_timeout_s = connect_timeout_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self.workers: SessionWorkers | None = None
        self.pacer: OutputPacer | None = None
        self.events_received = 0
        self.truncations: list[tuple[str, int]] = []
        self._ws: Any = None
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._writer: asyncio.Task | None = None
        self._tool_lock = threading.Lock()
        self._turn_id = 0
        self._turn: _TurnState | None = None  # the turn the agent is answering
        self._responses: dict[str, _Response] = {}
        self._cancelled_responses: set[str] = set()
        self._active_response: _Response | None = None
        self._user_turn_id: int | None = None  # turn of the utterance being spoken
        self._speech_stopped_at: float | None = None
        self._input_resampler: StreamResampler | None = None
        self._dtmf = DtmfCollector(self._on_dtmf, flush_ms=self.config.dtmf_flush_ms)
        self._started = False
        self._closed = False
        self._lost = False

    # -- public API -------------------------------------------------------------------------

    @property
    def turn_id(self) -> int:
        return self._turn_id

    @property
    def agent_speaking(self) -> bool:
        return (self._turn is not None and not self._turn.finished) or (
            self.pacer is not None and self.pacer.is_playing()
        )

    async def start(self) -> None:
        """Connect, configure the active agent, replay history, and greet.

        Raises:
            RealtimeStartError: the service is unreachable or refused the configuration.
        """
        if self._started:
            return
        from websockets.asyncio.client import connect

        self.loop = asyncio.get_running_loop()
        self.workers = SessionWorkers(
            ThreadBridge.for_loop(self.loop), self.config.max_jobs_in_flight
        )
        self.pacer = OutputPacer(
            self.loop,
            self.output_sample_rate_hz,
            self._send_frame,
            self._on_turn_audio_end,
            lead_ms=self.config.output_lead_ms,
            speed=self.config.pacing_speed,
        )
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
                update = self._session_update(self.roster.get(self.active_agent))
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
            turn = self._new_turn("", started_at=self.loop.time())
            turn.is_greeting = True
            self._say(greeting)

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
            self._user_message(text, source="text")

    def push_dtmf(self, digits: str) -> None:
        """DTMF tones; sent to the agent as one text message after a pause or on '#'."""
        if not self._started or self._closed:
            return
        self._dtmf.push(digits)

    async def interrupt(self, reason: str = "stop") -> bool:
        """Stop the agent now. Returns False when it was not speaking."""
        if not self._started:
            return False
        return self._barge_in(reason, self.loop.time())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._dtmf.close()
        if self.pacer is not None:
            self.pacer.clear()
        for response in self._responses.values():
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

    def _ws_send(self, event: dict[str, Any]) -> None:
        self._outbox.put_nowait(json.dumps(event))

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

    def _session_update(self, agent: AgentSnapshot, suffix: str = "") -> dict[str, Any]:
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
                self._ws_send(
                    {
                        "type": "conversation.item.create",
                        "item": message_item(dialect, role, content),
                    }
                )

    def _say(self, text: str) -> None:
        """Ask the service to speak `text` as it is (greetings)."""
        self._ws_send(
            {
                "type": "response.create",
                "response": {
                    "instructions": (f'Say exactly this to the caller, and nothing else: "{text}"')
                },
            }
        )

    # -- inbound ------------------------------------------------------------------------------

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
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)

    def _on_speech_started(self, event: dict[str, Any]) -> None:
        now = self.loop.time()
        self._barge_in("barge_in", now)
        self._user_turn_id = self._next_turn_id()
        self._speech_stopped_at = None

    def _on_speech_stopped(self, event: dict[str, Any]) -> None:
        self._speech_stopped_at = self.loop.time()

    def _on_transcription_delta(self, event: dict[str, Any]) -> None:
        delta = str(event.get("delta") or "").strip()
        if delta:
            self.emitter(UserTranscript(self.session_id, self._next_turn_id(), delta, False))

    def _on_transcription_done(self, event: dict[str, Any]) -> None:
        text = str(event.get("transcript") or "").strip()
        if not text:
            return
        now = self.loop.time()
        turn_id = self._next_turn_id()
        self._user_turn_id = None
        self.emitter(UserTranscript(self.session_id, turn_id, text, True, "voice"))
        self._append_history({"role": "user", "content": text})
        eos = self._speech_stopped_at if self._speech_stopped_at is not None else now
        turn = self._turn
        if turn is None or turn.turn_id != turn_id:
            turn = self._new_turn(text, started_at=eos, turn_id=turn_id)
        else:
            turn.user_text = text
        turn.stt_final_ms = (now - eos) * 1000.0

    def _on_response_created(self, event: dict[str, Any]) -> None:
        response_id = str((event.get("response") or {}).get("id") or "")
        turn = self._turn
        now = self.loop.time()
        if turn is None or turn.finished:
            # A response the service started on its own (server VAD before any transcript).
            turn = self._new_turn(
                "", started_at=self._speech_stopped_at or now, turn_id=self._user_turn_id
            )
        if turn.response_created_at is None:
            turn.response_created_at = now
        response = _Response(response_id, turn.turn_id, self.active_agent)
        self._responses[response_id] = response
        self._active_response = response
        turn.responses.append(response)

    def _response_for(self, event: dict[str, Any]) -> _Response | None:
        response_id = str(event.get("response_id") or "")
        if response_id in self._cancelled_responses:
            return None
        response = self._responses.get(response_id)
        return response

    def _mark_first_delta(self, response: _Response) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == response.turn_id and turn.first_delta_at is None:
            turn.first_delta_at = self.loop.time()

    def _on_audio_delta(self, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        if response is None:
            return
        try:
            pcm = base64.b64decode(event.get("delta") or "", validate=True)
        except (binascii.Error, ValueError):
            logger.warning("session %s: realtime audio delta is not base64", self.session_id)
            return
        self._mark_first_delta(response)
        if not response.item_id:
            response.item_id = str(event.get("item_id") or "")
        if response.segment is None:
            response.segment = SpokenSegment(response.turn_id, response.text)
        if self.output_sample_rate_hz != REALTIME_SAMPLE_RATE_HZ:
            if response.resampler is None:
                response.resampler = StreamResampler(
                    REALTIME_SAMPLE_RATE_HZ, self.output_sample_rate_hz
                )
            pcm = response.resampler.process(pcm)
        if pcm:
            self.pacer.enqueue(response.turn_id, pcm, response.segment)

    def _on_transcript_delta(self, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        delta = str(event.get("delta") or "")
        if response is None or not delta:
            return
        self._mark_first_delta(response)
        if not response.item_id:
            response.item_id = str(event.get("item_id") or "")
        response.text += delta
        if response.segment is not None:
            response.segment.text = response.text
        self.emitter(AssistantDelta(self.session_id, response.turn_id, response.agent, delta))

    def _on_transcript_done(self, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        transcript = str(event.get("transcript") or "")
        if response is not None and transcript and not response.text:
            response.text = transcript
            self.emitter(
                AssistantDelta(self.session_id, response.turn_id, response.agent, transcript)
            )
        if response is not None and response.segment is not None:
            response.segment.text = response.text

    def _on_function_call_done(self, event: dict[str, Any]) -> None:
        response = self._response_for(event)
        if response is None:
            return
        self._mark_first_delta(response)
        call_id = str(event.get("call_id") or "")
        name = str(event.get("name") or "")
        raw = event.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(arguments, dict):
                raise ValueError("arguments are not an object")
        except ValueError:
            arguments = {}
        response.calls.append((call_id, name, arguments))
        response.tool_started[call_id] = self.loop.time()
        agent = self.roster.get(response.agent)
        spec = agent.tool(name)
        self.emitter(
            ToolStart(self.session_id, response.turn_id, response.agent, call_id, name, arguments)
        )
        if spec is not None and spec.is_handoff:
            return  # runs at response.done, after the other tools of the response
        if spec is None:
            future = self.loop.create_future()
            future.set_result({"success": False, "error": f"unknown tool {name!r}"})
        else:
            context = ToolContext(self.session_id, response.agent, self.tool_state)
            future = self.workers.bridge.submit(self._run_tool_blocking, name, arguments, context)
        response.tool_jobs[call_id] = future

    def _run_tool_blocking(
        self, name: str, arguments: Mapping[str, Any], context: ToolContext
    ) -> dict[str, Any]:
        with self._tool_lock:
            return self.tool_runner.run(name, arguments, context)

    def _on_response_done(self, event: dict[str, Any]) -> None:
        body = event.get("response") or {}
        response_id = str(body.get("id") or "")
        response = self._responses.get(response_id)
        if response is None:
            return
        response.done = True
        if self._active_response is response:
            self._active_response = None
        turn = self._turn
        usage = body.get("usage") or {}
        if turn is not None and turn.turn_id == response.turn_id:
            turn.tokens_in += int(usage.get("input_tokens") or 0)
            turn.tokens_out += int(usage.get("output_tokens") or 0)
        if response_id in self._cancelled_responses:
            return
        if turn is None or turn.turn_id != response.turn_id:
            return
        status = body.get("status")
        if status == "failed" or status == "incomplete":
            details = body.get("status_details") or {}
            message = str((details.get("error") or {}).get("message") or details or status)
            self.emitter(
                SessionError(self.session_id, response.turn_id, stage="llm", message=message)
            )
        if status == "cancelled":
            return
        if response.calls:
            self.loop.create_task(self._finish_tools(response, turn))
            return
        self.pacer.end_turn(response.turn_id)

    async def _finish_tools(self, response: _Response, turn: _TurnState) -> None:
        """Send each tool's output, switch agent on a handoff, then ask for the next response."""
        calls = [tool_call_message(response.text, [(c, n, a) for c, n, a in response.calls])]
        self._append_history(calls[0])
        handoff: tuple[str, str, dict[str, Any]] | None = None
        for call_id, name, arguments in response.calls:
            spec = self.roster.get(response.agent).tool(name)
            if spec is not None and spec.is_handoff:
                if handoff is None:
                    handoff = (call_id, name, arguments)
                else:
                    self._tool_output(turn, response, call_id, name, {"error": "one at a time"})
                continue
            job = response.tool_jobs[call_id]
            try:
                result = await asyncio.wait_for(asyncio.shield(job), self.config.tool_timeout_s)
            except TimeoutError:
                result = {"success": False, "error": "The tool timed out."}
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a tool failure is the model's to handle
                result = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
            if not isinstance(result, dict):
                result = {"success": True, "result": result}
            if turn.finished or self._closed:
                return
            self._tool_output(turn, response, call_id, name, result)
        greeting = ""
        if handoff is not None:
            greeting = self._handoff(turn, response, *handoff)
        if turn.finished or self._closed:
            return
        if greeting:
            self._say(greeting)
        else:
            self._ws_send({"type": "response.create"})

    def _tool_output(
        self, turn: _TurnState, response: _Response, call_id: str, name: str, result: dict
    ) -> None:
        failed = result.get("success") is False or ("error" in result and not result.get("success"))
        status = "error" if failed else "success"
        started = response.tool_started.get(call_id, self.loop.time())
        duration_ms = (self.loop.time() - started) * 1000.0
        turn.tools.append({"name": name, "duration_ms": duration_ms, "status": status})
        self.emitter(
            ToolEnd(
                self.session_id, turn.turn_id, response.agent, call_id, name, status, result,
                duration_ms,
            )
        )  # fmt: skip
        message = tool_result_message(call_id, result)
        self._append_history(message)
        self._ws_send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": message["content"],
                },
            }
        )

    def _handoff(
        self,
        turn: _TurnState,
        response: _Response,
        call_id: str,
        name: str,
        arguments: dict[str, Any],
    ) -> str:
        """Switch to the handoff's target agent with a session update; returns its greeting."""
        previous = response.agent
        spec = self.roster.get(previous).tool(name)
        target = spec.handoff_target if spec else None
        if not target or target not in self.roster.agents:
            self._tool_output(
                turn, response, call_id, name, {"success": False, "error": f"no agent {target!r}"}
            )
            return ""
        first_visit = target not in self.visited_agents
        self.visited_agents.add(target)
        self.active_agent = target
        context = {k: v for k, v in arguments.items() if v not in (None, "")}
        details = ", ".join(f"{k}: {v}" for k, v in context.items())
        suffix = (
            f"The caller was just transferred to you from {previous} ({details})."
            if details
            else f"The caller was just transferred to you from {previous}."
        )
        agent = self.roster.get(target)
        self._ws_send(self._session_update(agent, suffix))
        self._tool_output(
            turn,
            response,
            call_id,
            name,
            {
                "success": True,
                "handoff": True,
                "target_agent": target,
                "message": f"Transferred to {target}.",
                "handoff_context": context,
            },
        )
        reason = str(context.get("reason") or context.get("issue_summary") or name)
        self.emitter(
            AgentChange(
                self.session_id, turn.turn_id, previous, target, spec.silent_handoff, reason
            )
        )
        if spec.silent_handoff:
            return ""
        return agent.greeting if first_visit else (agent.return_greeting or agent.greeting)

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

    # -- turns --------------------------------------------------------------------------------

    def _next_turn_id(self) -> int:
        if self._user_turn_id is not None:
            return self._user_turn_id
        return self._turn_id + 1

    def _new_turn(
        self, user_text: str, *, started_at: float, turn_id: int | None = None
    ) -> _TurnState:
        self._turn_id = max(self._turn_id + 1, turn_id or 0)
        turn = _TurnState(self._turn_id, user_text, started_at)
        self._turn = turn
        return turn

    def _user_message(self, text: str, *, source: str) -> None:
        now = self.loop.time()
        self._barge_in(f"user_{source}", now)
        turn = self._new_turn(text, started_at=now)
        self.emitter(UserTranscript(self.session_id, turn.turn_id, text, True, source))
        self._append_history({"role": "user", "content": text})
        self._ws_send(
            {
                "type": "conversation.item.create",
                "item": message_item(self.endpoint.dialect, "user", text),
            }
        )
        self._ws_send({"type": "response.create"})

    def _on_dtmf(self, digits: str) -> None:
        self._user_message(digits, source="dtmf")

    def _append_history(self, message: dict[str, Any]) -> None:
        self.history.append(message)
        trim_history(self.history, self.config.max_history_messages)

    def _send_frame(self, turn_id: int, pcm: bytes, index: int, is_last: bool) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id and turn.first_audio_at is None:
            turn.first_audio_at = self.loop.time()
        self.emitter(
            AudioFrame(self.session_id, turn_id, pcm, self.output_sample_rate_hz, index, is_last)
        )

    def _on_turn_audio_end(self, turn_id: int) -> None:
        turn = self._turn
        if turn is None or turn.turn_id != turn_id or turn.finished:
            return
        turn.finished = True
        self._finish_turn(turn, interrupted=False, now=None, barge_in_ms=None)

    def _finish_turn(
        self, turn: _TurnState, *, interrupted: bool, now: float | None, barge_in_ms: float | None
    ) -> None:
        frame_s = self.pacer.frame_s
        spoken: list[tuple[str, str]] = []
        for response in turn.responses:
            if response.segment is not None and now is not None:
                text = response.segment.text_played(now, frame_s)
            elif now is not None and response.segment is None:
                text = ""
            else:
                text = response.text
            if response.text or response.segment is not None:
                spoken.append((response.agent, text))
        if not spoken:
            spoken = [(self.active_agent, "")]
        for i, (agent, text) in enumerate(spoken):
            if text:
                self._append_history({"role": "assistant", "content": text})
            self.emitter(
                AssistantFinal(
                    self.session_id, turn.turn_id, agent=agent, text=text,
                    interrupted=interrupted and i == len(spoken) - 1,
                    is_greeting=turn.is_greeting,
                )
            )  # fmt: skip

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else (b - a) * 1000.0

        self.emitter(
            TurnMetrics(
                self.session_id,
                turn.turn_id,
                agent=self.active_agent,
                user_text=turn.user_text,
                assistant_text=" ".join(r.text for r in turn.responses if r.text),
                interrupted=interrupted,
                stt_final_ms=turn.stt_final_ms,
                llm_ttft_ms=ms(turn.response_created_at, turn.first_delta_at),
                first_audio_ms=ms(turn.started_at, turn.first_audio_at),
                barge_in_ms=barge_in_ms,
                tokens_in=turn.tokens_in,
                tokens_out=turn.tokens_out,
                tool_calls=list(turn.tools),
            )
        )

    def _barge_in(self, reason: str, decided_at: float) -> bool:
        """Cancel the agent's answer now. Synchronous: nothing can interleave."""
        turn = self._turn
        playing = self.pacer is not None and self.pacer.is_playing()
        if (turn is None or turn.finished) and not playing:
            return False
        now = self.loop.time()
        cancelled = turn.turn_id if turn is not None else self._turn_id
        # Frames played before the stop, per item, for the truncate (sent - discarded).
        self.pacer.clear()
        self.emitter.drop_audio_before(cancelled + 1)
        active = self._active_response
        if active is not None and not active.done:
            self._cancelled_responses.add(active.id)
            self._ws_send({"type": "response.cancel"})
        if turn is not None:
            for response in turn.responses:
                self._cancelled_responses.add(response.id)
                for job in response.tool_jobs.values():
                    job.cancel()
                if response.segment is not None and response.item_id:
                    played = response.segment.frames_played(now, self.pacer.frame_s)
                    audio_end_ms = played * FRAME_MS
                    if played < response.segment.frames_total or not response.done:
                        self.truncations.append((response.item_id, audio_end_ms))
                        self._ws_send(
                            {
                                "type": "conversation.item.truncate",
                                "item_id": response.item_id,
                                "content_index": 0,
                                "audio_end_ms": audio_end_ms,
                            }
                        )
        reaction_ms = (self.loop.time() - decided_at) * 1000.0
        self.emitter(BargeIn(self.session_id, cancelled, reason=reason, reaction_ms=reaction_ms))
        if turn is not None and not turn.finished:
            turn.finished = True
            self._finish_turn(turn, interrupted=True, now=now, barge_in_ms=reaction_ms)
        self._turn = None
        logger.info(
            "session %s: barge-in (%s) cancelled turn %s", self.session_id, reason, cancelled
        )
        return True


_HANDLERS: dict[str, Callable[[RealtimeSession, dict[str, Any]], None]] = {
    "input_audio_buffer.speech_started": RealtimeSession._on_speech_started,
    "input_audio_buffer.speech_stopped": RealtimeSession._on_speech_stopped,
    "conversation.item.input_audio_transcription.delta": RealtimeSession._on_transcription_delta,
    "conversation.item.input_audio_transcription.completed": RealtimeSession._on_transcription_done,
    "response.created": RealtimeSession._on_response_created,
    "response.audio.delta": RealtimeSession._on_audio_delta,
    "response.audio_transcript.delta": RealtimeSession._on_transcript_delta,
    "response.audio_transcript.done": RealtimeSession._on_transcript_done,
    "response.text.delta": RealtimeSession._on_transcript_delta,
    "response.function_call_arguments.done": RealtimeSession._on_function_call_done,
    "response.done": RealtimeSession._on_response_done,
    "error": RealtimeSession._on_error,
}
