"""The turns of a realtime conversation: the service's speech, transcript and response events,
barge-in, and each turn's report.

Speech start and stop, the caller's transcription, and the responses: their audio is paced
out, their transcript streamed as `AssistantDelta`; events of a cancelled response are dropped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any, Protocol

from media.engine.audio import FRAME_MS, StreamResampler
from media.engine.events import AssistantDelta, SessionError, TurnMetrics, UserTranscript
from media.engine.history import trim_history
from media.engine.pacing import SpokenSegment
from media.engine.report import emit_answer, span_ms
from media.realtime.protocol import REALTIME_SAMPLE_RATE_HZ, message_item
from media.realtime.session.state import ResponseState, TurnState

if TYPE_CHECKING:
    from media.engine.config import EngineConfig
    from media.engine.emitter import EventEmitter
    from media.engine.output import AgentAudio
    from media.engine.snapshot import AgentRoster, ToolContext

logger = logging.getLogger(__name__)


class RealtimeHost(Protocol):
    """What the realtime session's parts (:class:`RealtimeTurns`, `RealtimeTools`) need of it.

    Read: the wiring (`session_id`, `config`, `roster`, `loop`, `emitter`, `audio`,
    `output_sample_rate_hz`, `dialect`) and the conversation (`history`, `active_agent`,
    `closed`). Changed: `history` in place, the turn counter (:meth:`advance_turn`),
    `switch_agent` on a handoff. Outbound: :meth:`send` queues one event for the service.
    """

    session_id: str
    config: EngineConfig
    roster: AgentRoster
    loop: asyncio.AbstractEventLoop
    emitter: EventEmitter
    audio: AgentAudio
    output_sample_rate_hz: int
    history: list[dict[str, Any]]
    active_agent: str

    @property
    def turn_id(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    @property
    def dialect(self) -> str: ...

    def advance_turn(self, at_least: int | None) -> int:
        """Make the next turn id current (at least `at_least`) and return it."""
        ...

    def send(self, event: dict[str, Any]) -> None: ...

    def say(self, text: str) -> None:
        """Ask the service to speak `text` as it is."""
        ...

    def session_update(self, agent: Any, suffix: str = "") -> dict[str, Any]: ...

    def switch_agent(self, name: str) -> bool: ...

    def submit_tool(self, name: str, arguments: Any, context: ToolContext) -> asyncio.Future: ...


class RealtimeTurns:
    """The turn the agent answers, the service's responses, and barge-in.

    Handlers (`on_*`) take the service's events, in the order the session reads them.
    Barge-in runs through the shared :class:`~media.engine.output.AgentAudio`: the pacer is
    cleared, queued frames of the turn purged, and inside that stop `response.cancel` and
    `conversation.item.truncate` (at the milliseconds actually played) are queued; `BargeIn`
    follows; deltas of the cancelled response that arrive later are dropped.

    Threading: loop only.
    """

    def __init__(self, host: RealtimeHost) -> None:
        self.host = host
        self.turn: TurnState | None = None  # the turn the agent is answering
        self.truncations: list[tuple[str, int]] = []
        self._responses: dict[str, ResponseState] = {}
        self._cancelled: set[str] = set()
        self._active: ResponseState | None = None
        self._user_turn_id: int | None = None  # turn of the utterance being spoken
        self._speech_stopped_at: float | None = None

    @property
    def agent_speaking(self) -> bool:
        turn = self.turn
        return (turn is not None and not turn.finished) or self.host.audio.pacer.is_playing()

    def responses(self) -> list[ResponseState]:
        return list(self._responses.values())

    # -- turns ---------------------------------------------------------------------------------

    def next_turn_id(self) -> int:
        if self._user_turn_id is not None:
            return self._user_turn_id
        return self.host.turn_id + 1

    def new_turn(
        self, user_text: str, *, started_at: float, turn_id: int | None = None
    ) -> TurnState:
        turn = TurnState(self.host.advance_turn(turn_id), user_text, started_at)
        self.turn = turn
        return turn

    def user_message(self, text: str, *, source: str) -> None:
        """Typed text or DTMF: stop the agent, then ask the service to answer `text`."""
        host = self.host
        now = host.loop.time()
        self.barge_in(f"user_{source}", now)
        turn = self.new_turn(text, started_at=now)
        host.emitter(UserTranscript(host.session_id, turn.turn_id, text, True, source))
        self.append_history({"role": "user", "content": text})
        host.send(
            {"type": "conversation.item.create", "item": message_item(host.dialect, "user", text)}
        )
        host.send({"type": "response.create"})

    def append_history(self, message: dict[str, Any]) -> None:
        history = self.host.history
        history.append(message)
        trim_history(history, self.host.config.max_history_messages)

    # -- the caller's speech -------------------------------------------------------------------

    def on_speech_started(self, event: dict[str, Any]) -> None:
        self.barge_in("barge_in", self.host.loop.time())
        self._user_turn_id = self.next_turn_id()
        self._speech_stopped_at = None

    def on_speech_stopped(self, event: dict[str, Any]) -> None:
        self._speech_stopped_at = self.host.loop.time()

    def on_transcription_delta(self, event: dict[str, Any]) -> None:
        delta = str(event.get("delta") or "").strip()
        if delta:
            host = self.host
            host.emitter(UserTranscript(host.session_id, self.next_turn_id(), delta, False))

    def on_transcription_done(self, event: dict[str, Any]) -> None:
        text = str(event.get("transcript") or "").strip()
        if not text:
            return
        host = self.host
        now = host.loop.time()
        turn_id = self.next_turn_id()
        self._user_turn_id = None
        host.emitter(UserTranscript(host.session_id, turn_id, text, True, "voice"))
        self.append_history({"role": "user", "content": text})
        eos = self._speech_stopped_at if self._speech_stopped_at is not None else now
        turn = self.turn
        if turn is None or turn.turn_id != turn_id:
            turn = self.new_turn(text, started_at=eos, turn_id=turn_id)
        else:
            turn.user_text = text
        turn.stt_final_ms = (now - eos) * 1000.0

    # -- responses -----------------------------------------------------------------------------

    def on_response_created(self, event: dict[str, Any]) -> None:
        response_id = str((event.get("response") or {}).get("id") or "")
        turn = self.turn
        now = self.host.loop.time()
        if turn is None or turn.finished:
            # A response the service started on its own (server VAD before any transcript).
            turn = self.new_turn(
                "", started_at=self._speech_stopped_at or now, turn_id=self._user_turn_id
            )
        if turn.response_created_at is None:
            turn.response_created_at = now
        response = ResponseState(response_id, turn.turn_id, self.host.active_agent)
        self._responses[response_id] = response
        self._active = response
        turn.responses.append(response)

    def response_for(self, event: dict[str, Any]) -> ResponseState | None:
        """The live response an event belongs to (None when unknown or cancelled)."""
        response_id = str(event.get("response_id") or "")
        if response_id in self._cancelled:
            return None
        return self._responses.get(response_id)

    def mark_first_delta(self, response: ResponseState) -> None:
        turn = self.turn
        if turn is not None and turn.turn_id == response.turn_id and turn.first_delta_at is None:
            turn.first_delta_at = self.host.loop.time()

    def on_audio_delta(self, event: dict[str, Any]) -> None:
        response = self.response_for(event)
        if response is None:
            return
        host = self.host
        try:
            pcm = base64.b64decode(event.get("delta") or "", validate=True)
        except (binascii.Error, ValueError):
            logger.warning("session %s: realtime audio delta is not base64", host.session_id)
            return
        self.mark_first_delta(response)
        if not response.item_id:
            response.item_id = str(event.get("item_id") or "")
        if response.segment is None:
            response.segment = SpokenSegment(response.turn_id, response.text)
        if host.output_sample_rate_hz != REALTIME_SAMPLE_RATE_HZ:
            if response.resampler is None:
                response.resampler = StreamResampler(
                    REALTIME_SAMPLE_RATE_HZ, host.output_sample_rate_hz
                )
            pcm = response.resampler.process(pcm)
        if pcm:
            host.audio.pacer.enqueue(response.turn_id, pcm, response.segment)

    def on_transcript_delta(self, event: dict[str, Any]) -> None:
        response = self.response_for(event)
        delta = str(event.get("delta") or "")
        if response is None or not delta:
            return
        self.mark_first_delta(response)
        if not response.item_id:
            response.item_id = str(event.get("item_id") or "")
        response.text += delta
        if response.segment is not None:
            response.segment.text = response.text
        host = self.host
        host.emitter(AssistantDelta(host.session_id, response.turn_id, response.agent, delta))

    def on_transcript_done(self, event: dict[str, Any]) -> None:
        response = self.response_for(event)
        transcript = str(event.get("transcript") or "")
        if response is not None and transcript and not response.text:
            response.text = transcript
            host = self.host
            host.emitter(
                AssistantDelta(host.session_id, response.turn_id, response.agent, transcript)
            )
        if response is not None and response.segment is not None:
            response.segment.text = response.text

    def on_response_done(self, event: dict[str, Any]) -> ResponseState | None:
        """Returns the response when its tool calls are to be finished now, else None."""
        body = event.get("response") or {}
        response_id = str(body.get("id") or "")
        response = self._responses.get(response_id)
        if response is None:
            return None
        response.done = True
        if self._active is response:
            self._active = None
        turn = self.turn
        usage = body.get("usage") or {}
        if turn is not None and turn.turn_id == response.turn_id:
            turn.tokens_in += int(usage.get("input_tokens") or 0)
            turn.tokens_out += int(usage.get("output_tokens") or 0)
        if response_id in self._cancelled:
            return None
        if turn is None or turn.turn_id != response.turn_id:
            return None
        status = body.get("status")
        if status == "failed" or status == "incomplete":
            details = body.get("status_details") or {}
            message = str((details.get("error") or {}).get("message") or details or status)
            host = self.host
            host.emitter(
                SessionError(host.session_id, response.turn_id, stage="llm", message=message)
            )
        if status == "cancelled":
            return None
        if response.calls:
            return response
        self.host.audio.pacer.end_turn(response.turn_id)
        return None

    # -- output and the end of a turn ----------------------------------------------------------

    def on_frame_sent(self, turn_id: int) -> None:
        turn = self.turn
        if turn is not None and turn.turn_id == turn_id and turn.first_audio_at is None:
            turn.first_audio_at = self.host.loop.time()

    def on_audio_end(self, turn_id: int) -> None:
        turn = self.turn
        if turn is None or turn.turn_id != turn_id or turn.finished:
            return
        turn.finished = True
        self._report(turn, interrupted=False, now=None, barge_in_ms=None)

    def _report(
        self, turn: TurnState, *, interrupted: bool, now: float | None, barge_in_ms: float | None
    ) -> None:
        """Keep what was said (heard by `now`, all of it when None) and emit the answer and
        the turn's metrics."""
        host = self.host
        frame_s = host.audio.pacer.frame_s
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
            spoken = [(host.active_agent, "")]
        for _, text in spoken:
            if text:
                self.append_history({"role": "assistant", "content": text})
        emit_answer(
            host.emitter,
            host.session_id,
            turn.turn_id,
            spoken,
            interrupted=interrupted,
            is_greeting=turn.is_greeting,
        )
        host.emitter(
            TurnMetrics(
                host.session_id,
                turn.turn_id,
                agent=host.active_agent,
                user_text=turn.user_text,
                assistant_text=" ".join(r.text for r in turn.responses if r.text),
                interrupted=interrupted,
                stt_final_ms=turn.stt_final_ms,
                llm_ttft_ms=span_ms(turn.response_created_at, turn.first_delta_at),
                first_audio_ms=span_ms(turn.started_at, turn.first_audio_at),
                barge_in_ms=barge_in_ms,
                tokens_in=turn.tokens_in,
                tokens_out=turn.tokens_out,
                tool_calls=list(turn.tools),
            )
        )

    def barge_in(self, reason: str, decided_at: float) -> bool:
        """Cancel the agent's answer now. Synchronous: nothing can interleave."""
        host = self.host
        turn = self.turn
        pacer = host.audio.pacer
        if (turn is None or turn.finished) and not pacer.is_playing():
            return False
        cancelled = turn.turn_id if turn is not None else host.turn_id
        stopped: list[float] = []

        def cancel(stop_at: float) -> None:
            stopped.append(stop_at)
            active = self._active
            if active is not None and not active.done:
                self._cancelled.add(active.id)
                host.send({"type": "response.cancel"})
            if turn is not None:
                for response in turn.responses:
                    self._cancel_response(response, stop_at)

        _, reaction_ms, _ = host.audio.barge_in(cancelled, reason, decided_at, cancel)
        if turn is not None and not turn.finished:
            turn.finished = True
            self._report(turn, interrupted=True, now=stopped[0], barge_in_ms=reaction_ms)
        self.turn = None
        logger.info(
            "session %s: barge-in (%s) cancelled turn %s", host.session_id, reason, cancelled
        )
        return True

    def _cancel_response(self, response: ResponseState, stop_at: float) -> None:
        """Drop the response's later events, cancel its tools, and truncate its item to the
        milliseconds played by `stop_at` (frames sent less those taken back)."""
        self._cancelled.add(response.id)
        for job in response.tool_jobs.values():
            job.cancel()
        segment = response.segment
        if segment is not None and response.item_id:
            played = segment.frames_played(stop_at, self.host.audio.pacer.frame_s)
            audio_end_ms = played * FRAME_MS
            if played < segment.frames_total or not response.done:
                self.truncations.append((response.item_id, audio_end_ms))
                self.host.send(
                    {
                        "type": "conversation.item.truncate",
                        "item_id": response.item_id,
                        "content_index": 0,
                        "audio_end_ms": audio_end_ms,
                    }
                )
