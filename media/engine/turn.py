"""One agent answer: LLM rounds with tools and handoffs, synthesized while the LLM streams.

A :class:`Turn` runs two tasks on the session's loop: the *thinker* (LLM rounds; tools through
the turn's :class:`~media.engine.tool_calls.ToolCalls`) puts text pieces on a queue as the
chunker cuts them, and the *speaker* synthesizes each piece and hands the audio to the session's
pacer. Nothing here emits once the turn is cancelled (`cancelled` is set synchronously by the
barge-in before the tasks see their CancelledError). The turn reaches its session only through
:class:`TurnHost`.

A *speculative* turn (started during the caller's pause, before the end of turn is confirmed)
works on a private copy of the history, keeps its events and audio back, and runs no tool
until :meth:`Turn.release`; cancelled before that, it leaves no trace in the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from media.engine.audio import resample
from media.engine.chunker import TextChunker
from media.engine.events import AssistantDelta, Event, SessionError, TurnMetrics
from media.engine.history import tool_call_message, trim_history
from media.engine.pacing import SpokenSegment
from media.engine.report import emit_answer, span_ms
from media.engine.snapshot import AgentSnapshot
from media.engine.tool_calls import ToolCalls
from media.providers.base import LLMRequest, TextDelta, ToolCallRequest, Usage

if TYPE_CHECKING:
    from media.engine.config import EngineConfig
    from media.engine.emitter import EventEmitter
    from media.engine.pacing import OutputPacer
    from media.engine.snapshot import AgentRoster, ToolContext
    from media.providers import ProviderSet

logger = logging.getLogger(__name__)


class StageError(Exception):
    """A provider stage failed or timed out during a turn."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(slots=True)
class _Piece:
    text: str
    message: dict[str, Any] | None  # the history entry this text belongs to
    agent: str
    is_apology: bool = False


@dataclass(slots=True)
class _Marks:
    """Loop times of the turn's milestones (None until reached)."""

    start: float  # end of speech, text arrival or session start
    stt_final_ms: float | None = None
    llm_start: float | None = None
    llm_first_token: float | None = None
    llm_end: float | None = None
    tts_start: float | None = None
    tts_first_byte: float | None = None
    first_audio: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tools: list[dict[str, Any]] = field(default_factory=list)


class TurnHost(Protocol):
    """What a :class:`Turn` needs of its session (the cascade's `ConversationSession`).

    Read: the wiring (`session_id`, `config`, `roster`, `providers` for the LLM and TTS, `loop`,
    `emitter`, `pacer`) and the conversation (`history`, `tool_state`, `active_agent`, the
    current `turn_id`, `closed`). Changed: `switch_agent` on a handoff; `history` in place.
    `submit_tool` runs a tool in a worker and returns its future on the loop.
    """

    session_id: str
    config: EngineConfig
    roster: AgentRoster
    providers: ProviderSet
    loop: asyncio.AbstractEventLoop
    emitter: EventEmitter
    pacer: OutputPacer
    history: list[dict[str, Any]]
    tool_state: dict[str, Any]
    active_agent: str

    @property
    def turn_id(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    def switch_agent(self, name: str) -> bool: ...

    def submit_tool(self, name: str, arguments: Any, context: ToolContext) -> asyncio.Future: ...


class Turn:
    """The agent's answer to one user turn (or the greeting).

    Life cycle, driven by the session: :meth:`start` (tasks run), then :meth:`release` for a
    speculative turn whose end of turn is confirmed, then :meth:`finish` when its last frame
    has been sent or :meth:`cancel_tasks` + :meth:`interrupt` on a barge-in. `finish` and
    `interrupt` each report the answer (`AssistantFinal`) and the metrics (`TurnMetrics`) once.
    """

    def __init__(
        self,
        host: TurnHost,
        turn_id: int,
        user_text: str,
        *,
        started_at: float,
        stt_final_ms: float | None = None,
        greeting: str = "",
        apology: str = "",
        speculative: bool = False,
    ) -> None:
        self.host = host
        self.turn_id = turn_id
        self.user_text = user_text
        self.greeting = greeting
        self.apology = apology  # said instead of an answer (the caller was not heard)
        self.cancelled = False
        self.finished = False
        self.marks = _Marks(start=started_at, stt_final_ms=stt_final_ms)
        self.pieces: asyncio.Queue[_Piece | None] = asyncio.Queue()
        self.segments: list[tuple[SpokenSegment, _Piece]] = []
        self.messages: list[dict[str, Any]] = []  # assistant messages written by this turn
        self.tools = ToolCalls(host, self)
        self._streamed_any = False  # an AssistantDelta of this turn has been emitted
        self.thinker: asyncio.Task | None = None
        self.speaker: asyncio.Task | None = None
        # Held back until release() while speculative: events, then audio and the turn's end.
        self.held = speculative
        self.history: list[dict[str, Any]] = list(host.history) if speculative else host.history
        self._held_events: list[Event] = []
        self._held_audio: list[tuple[bytes, SpokenSegment] | None] = []
        self._confirmed = asyncio.Event()
        if not speculative:
            self._confirmed.set()

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        loop = self.host.loop
        self.speaker = loop.create_task(self._speak(), name=f"speak-{self.host.session_id}")
        self.thinker = loop.create_task(self._think(), name=f"think-{self.host.session_id}")

    def emit(self, event: Event) -> None:
        if self.cancelled:
            return
        if self.held:
            self._held_events.append(event)
        else:
            self.host.emitter(event)

    def release(self) -> None:
        """The end of turn is confirmed: adopt the history, emit what was held, play the audio.

        Synchronous; the first held frame is sent before this returns.
        """
        if not self.held:
            return
        host = self.host
        self.held = False
        host.history[:] = self.history
        self.history = host.history
        events, self._held_events = self._held_events, []
        for event in events:
            host.emitter(event)
        self._confirmed.set()
        audio, self._held_audio = self._held_audio, []
        for item in audio:
            if self.cancelled:  # stopped by something the first frame's emit triggered
                return
            if item is None:
                host.pacer.end_turn(self.turn_id)
            else:
                host.pacer.enqueue(self.turn_id, *item)

    async def confirmed(self) -> None:
        """Wait until the turn is no longer speculative (tools have side effects)."""
        if not self._confirmed.is_set():
            await self._confirmed.wait()

    def _play(self, pcm: bytes, segment: SpokenSegment) -> None:
        if self.held:
            self._held_audio.append((pcm, segment))
        else:
            self.host.pacer.enqueue(self.turn_id, pcm, segment)

    def cancel_tasks(self) -> None:
        self.cancelled = True
        for task in (self.thinker, self.speaker):
            if task is not None and not task.done():
                task.cancel()

    @property
    def audio_started(self) -> bool:
        return self.marks.first_audio is not None

    # -- thinking -----------------------------------------------------------------------------

    async def _think(self) -> None:
        host = self.host
        try:
            if self.greeting:
                self.say(self.greeting, host.active_agent)
            elif self.apology:
                self.say(self.apology, host.active_agent, is_apology=True)
            else:
                self.history.append({"role": "user", "content": self.user_text})
                trim_history(self.history, host.config.max_history_messages)
                await self._rounds()
        except asyncio.CancelledError:
            raise
        except StageError as exc:
            self._fail(exc.stage, str(exc))
        except Exception as exc:  # a bug must not end the session
            logger.exception("session %s: turn %s failed", host.session_id, self.turn_id)
            self._fail("session", f"{type(exc).__name__}: {exc}")
        finally:
            if not self.cancelled:
                self.pieces.put_nowait(None)

    def _fail(self, stage: str, message: str) -> None:
        host = self.host
        logger.warning("session %s: %s failed: %s", host.session_id, stage, message)
        self.emit(SessionError(host.session_id, self.turn_id, stage=stage, message=message))
        self.say(host.config.apology_text, host.active_agent, is_apology=True)

    def say(self, text: str, agent: str, is_apology: bool = False) -> None:
        """Speak a fixed text (greeting, apology) as its own assistant message."""
        message = {"role": "assistant", "content": text}
        self.history.append(message)
        self.messages.append(message)
        self._emit_delta(agent, text, starts_message=True)
        self.pieces.put_nowait(_Piece(text, message, agent, is_apology))

    def _emit_delta(self, agent: str, text: str, *, starts_message: bool) -> None:
        """Stream text to the transport; a new message of the same turn (after a tool round,
        a handoff or an apology) is set apart with a space so the streamed text reads as the
        history does."""
        if starts_message and self._streamed_any and not text[:1].isspace():
            text = " " + text
        self._streamed_any = True
        self.emit(AssistantDelta(self.host.session_id, self.turn_id, agent=agent, text=text))

    async def _rounds(self) -> None:
        host = self.host
        handoff_context: dict[str, Any] | None = None
        for _ in range(host.config.max_tool_rounds):
            agent = host.roster.get(host.active_agent)
            calls, announced = await self._llm_round(agent, handoff_context)
            if not calls:
                return
            handoff_context = await self.tools.run(agent, calls, announced)
            if self.tools.call_end is not None:
                return  # the farewell is the turn's last word
        raise StageError("llm", f"no answer after {host.config.max_tool_rounds} tool rounds")

    def _system_prompt(self, agent: AgentSnapshot, handoff: dict[str, Any] | None) -> str:
        text = agent.instructions or f"You are {agent.name}. {agent.description}".strip()
        if handoff:
            details = ", ".join(f"{k}: {v}" for k, v in handoff.items() if v not in (None, ""))
            text += (
                f"\n\nThe caller was just transferred to you ({details}). "
                "Answer their last message directly."
            )
        return text

    async def _llm_round(
        self, agent: AgentSnapshot, handoff: dict[str, Any] | None
    ) -> tuple[list[ToolCallRequest], dict[str, Any]]:
        """One LLM round, its text streamed and cut into pieces as it comes.

        Returns the tool calls it asked for and the assistant message announcing them.
        """
        host = self.host
        cfg = host.config
        request = LLMRequest(
            session_id=host.session_id,
            agent=agent,
            messages=[{"role": "system", "content": self._system_prompt(agent, handoff)}]
            + self.history,
            tools=agent.tools,
            handoff_context=handoff,
            tool_state=host.tool_state,
            can_retry=lambda: not self.audio_started,
        )
        loop = host.loop
        marks = self.marks
        if marks.llm_start is None:
            marks.llm_start = loop.time()
        message: dict[str, Any] | None = None
        chunker = TextChunker()
        calls: list[ToolCallRequest] = []
        stream = host.providers.llm.stream(request)
        try:
            async with asyncio.timeout(cfg.llm_first_token_timeout_s) as deadline:
                async for event in stream:
                    deadline.reschedule(loop.time() + cfg.llm_idle_timeout_s)
                    if type(event) is TextDelta:
                        if not event.text:
                            continue
                        if marks.llm_first_token is None:
                            marks.llm_first_token = loop.time()
                        starts_message = message is None
                        if starts_message:
                            message = {"role": "assistant", "content": ""}
                            self.history.append(message)
                            self.messages.append(message)
                        message["content"] += event.text
                        self._emit_delta(agent.name, event.text, starts_message=starts_message)
                        for piece in chunker.push(event.text):
                            self.pieces.put_nowait(_Piece(piece, message, agent.name))
                    elif type(event) is ToolCallRequest:
                        if marks.llm_first_token is None:
                            marks.llm_first_token = loop.time()
                        calls.append(event)
                    elif type(event) is Usage:
                        marks.tokens_in += event.tokens_in
                        marks.tokens_out += event.tokens_out
        except TimeoutError:
            raise StageError("llm", "the LLM timed out") from None
        except (asyncio.CancelledError, StageError):
            raise
        except Exception as exc:
            raise StageError("llm", f"{type(exc).__name__}: {exc}") from exc
        finally:
            await stream.aclose()
        marks.llm_end = loop.time()
        rest = chunker.flush()
        if rest and message is not None:
            self.pieces.put_nowait(_Piece(rest, message, agent.name))
        if not calls:
            return calls, {}
        announced = tool_call_message(
            message["content"] if message else "",
            [(c.call_id, c.name, c.arguments) for c in calls],
        )
        if message is not None:
            message.update(announced)
            announced = message
        else:
            self.history.append(announced)
            self.messages.append(announced)
        # Placeholders first: the history is consistent at every await below.
        for call in calls:
            self.history.append(self.tools.placeholder(call, agent.name))
        return calls, announced

    # -- speaking -----------------------------------------------------------------------------

    async def _speak(self) -> None:
        host = self.host
        cfg = host.config
        tts = host.providers.tts
        loop = host.loop
        out_rate = host.pacer.sample_rate_hz
        marks = self.marks
        skip_answer = False  # after a TTS failure only the apology is attempted
        while True:
            piece = await self.pieces.get()
            if piece is None:
                break
            if skip_answer and not piece.is_apology:
                continue
            segment = SpokenSegment(self.turn_id, piece.text)
            self.segments.append((segment, piece))
            roster = host.roster
            voice = roster.get(piece.agent).voice if piece.agent in roster.agents else None
            if marks.tts_start is None:
                marks.tts_start = loop.time()
            stream = tts.synthesize(piece.text, voice or roster.get(host.active_agent).voice)
            try:
                async with asyncio.timeout(cfg.tts_timeout_s) as deadline:
                    async for pcm in stream:
                        deadline.reschedule(loop.time() + cfg.tts_timeout_s)
                        if not pcm:
                            continue
                        if marks.tts_first_byte is None:
                            marks.tts_first_byte = loop.time()
                        if tts.sample_rate_hz != out_rate:
                            pcm = resample(pcm, tts.sample_rate_hz, out_rate)
                        self._play(pcm, segment)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any TTS failure: apologise, go on
                message = (
                    "the TTS timed out"
                    if isinstance(exc, TimeoutError)
                    else f"{type(exc).__name__}: {exc}"
                )
                logger.warning("session %s: tts failed: %s", host.session_id, message)
                self.emit(SessionError(host.session_id, self.turn_id, stage="tts", message=message))
                if not piece.is_apology and not skip_answer:
                    skip_answer = True
                    # Try the apology next; the rest of the answer is not spoken.
                    ended = False
                    while not self.pieces.empty():
                        ended = ended or self.pieces.get_nowait() is None
                    self.pieces.put_nowait(_Piece(cfg.apology_text, None, piece.agent, True))
                    if ended:
                        self.pieces.put_nowait(None)
            finally:
                await stream.aclose()
        if self.held:
            self._held_audio.append(None)
        else:
            host.pacer.end_turn(self.turn_id)

    # -- ending -------------------------------------------------------------------------------

    def finish(self) -> None:
        """All the turn's audio has been sent: report the answer and the metrics."""
        if self.finished or self.cancelled:
            return
        self.finished = True
        spoken = self._emit_finals(interrupted=False, now=None)
        self._emit_metrics(spoken, interrupted=False, barge_in_ms=None)
        if self.tools.call_end is not None:
            self.tools.end_call_after_playback()

    def interrupt(self, now: float, barge_in_ms: float | None) -> None:
        """Barge-in: keep in history only what was heard; close every tool call."""
        if self.finished:
            return
        self.finished = True
        frame_s = self.host.pacer.frame_s
        heard: dict[int, list[str]] = {}
        for segment, piece in self.segments:
            if piece.message is not None:
                text = segment.text_played(now, frame_s)
                if text:
                    heard.setdefault(id(piece.message), []).append(text)
        for message in self.messages:
            played = " ".join(heard.get(id(message), []))
            if message.get("tool_calls"):
                message["content"] = played or None
            elif played:
                message["content"] = played
            else:
                with contextlib.suppress(ValueError):
                    self.history.remove(message)
        self.tools.cancel_pending(now)
        spoken = self._emit_finals(interrupted=True, now=now)
        self._emit_metrics(spoken, interrupted=True, barge_in_ms=barge_in_ms)

    def _emit_finals(self, interrupted: bool, now: float | None) -> str:
        """Emit the answer per agent, as heard by `now` (all of it when None); returns it."""
        host = self.host
        groups: list[tuple[str, list[str]]] = []
        for segment, piece in self.segments:
            text = segment.text if now is None else segment.text_played(now, host.pacer.frame_s)
            if not groups or groups[-1][0] != piece.agent:
                groups.append((piece.agent, []))
            if text:
                groups[-1][1].append(text)
        if not groups:
            groups = [(host.active_agent, [])]
        emit_answer(
            host.emitter,
            host.session_id,
            self.turn_id,
            [(agent, " ".join(texts)) for agent, texts in groups],
            interrupted=interrupted,
            is_greeting=bool(self.greeting),
        )
        return " ".join(text for _, texts in groups for text in texts)

    def _emit_metrics(self, spoken: str, interrupted: bool, barge_in_ms: float | None) -> None:
        host = self.host
        m = self.marks
        host.emitter(
            TurnMetrics(
                host.session_id,
                self.turn_id,
                agent=host.active_agent,
                user_text=self.user_text,
                assistant_text=spoken,
                interrupted=interrupted,
                stt_final_ms=m.stt_final_ms,
                llm_ttft_ms=span_ms(m.llm_start, m.llm_first_token),
                llm_total_ms=span_ms(m.llm_start, m.llm_end),
                tts_ttfb_ms=span_ms(m.tts_start, m.tts_first_byte),
                first_audio_ms=span_ms(m.start, m.first_audio),
                barge_in_ms=barge_in_ms,
                tokens_in=m.tokens_in,
                tokens_out=m.tokens_out,
                tool_calls=list(m.tools),
            )
        )
