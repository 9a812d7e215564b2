"""The end of the caller's turn: the recognizer's final, and the answer prepared in the pause.

:class:`EndOfTurn` takes the caller's side from where the
:class:`~media.engine.utterance.UtteranceDetector` leaves it: it feeds the STT the utterance's
frames, collects its partials and finals, and decides when the user's turn ends and with which
text; the session answers it (:meth:`EndOfTurnHost.user_turn`).

Speculative end of turn: after `speculative_silence_ms` of silence the STT is asked for the
final the utterance would have now (:meth:`~media.providers.base.STT.peek_final`) and its answer
is computed by a held :class:`~media.engine.turn.Turn` (:meth:`EndOfTurnHost.hold_turn`). At
`end_of_turn_silence_ms` the turn is confirmed: the held turn is handed to the session
(:meth:`EndOfTurnHost.adopt_turn`), which emits the user's final transcript and releases it, its
first audio frame leaving in the same tick. If the caller speaks first, the held turn is
cancelled silently (no event, no history entry, no tool run) and the STT resumes the same
utterance.

Each peek is answered by exactly one speculative STT result, in order, so one slot per
unanswered peek says what its answer is for by the time it arrives: `SPECULATE` (the silence
goes on: answer it, held; the slot becomes `ANSWERED`), `FINAL` (the end of turn came first: it
is the utterance's final) or `STALE` (the caller resumed: drop it). When the final times out,
the recognizer has broken that promise: every slot is given up, so that an answer it lost does
not shift each later answer onto the utterance before (one arriving after the timeout would be
taken for the next utterance's; the timeout is set well past the recognizer's slowest answer).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol

from media.engine.events import UserTranscript

if TYPE_CHECKING:
    from media.engine.config import EngineConfig
    from media.engine.emitter import EventEmitter
    from media.engine.turn import Turn
    from media.engine.utterance import UtteranceDetector
    from media.providers import ProviderSet
    from media.providers.base import SttResult

logger = logging.getLogger(__name__)

SPECULATE, ANSWERED, FINAL, STALE = "speculate", "answered", "final", "stale"

# Audio kept to restart an utterance after a peek that ended it: beyond this (30 s) the
# utterance is not speculated on any more (memory per session stays bounded).
MAX_RESUME_FRAMES = 1500


class EndOfTurnHost(Protocol):
    """What :class:`EndOfTurn` needs of its session
    (:class:`~media.engine.session.ConversationSession`)."""

    session_id: str
    loop: asyncio.AbstractEventLoop
    emitter: EventEmitter

    @property
    def turn_id(self) -> int: ...

    @property
    def closed(self) -> bool: ...

    @property
    def agent_speaking(self) -> bool: ...

    def next_turn_id(self) -> int:
        """The id the next user turn will have (partial transcripts carry it)."""
        ...

    def user_turn(
        self, text: str, *, source: str, started_at: float, stt_final_ms: float | None
    ) -> None:
        """The user's turn ended with `text`: emit it and answer it."""
        ...

    def hold_turn(self, text: str, *, started_at: float, stt_final_ms: float) -> Turn:
        """Start a speculative turn answering `text`, its output held."""
        ...

    def stt_failed(self, message: str) -> None:
        """The caller spoke and the recognizer gave nothing: report it, ask them again."""
        ...

    def adopt_turn(self, turn: Turn, text: str) -> None:
        """The end of turn is confirmed for exactly `text`: emit it and release `turn`."""
        ...


class EndOfTurn:
    """The STT's side of the caller's turns and the held answer (see the module docstring).

    The session calls, frame by frame: :meth:`feed` (before the utterance detector's step), then
    :meth:`on_onset`, :meth:`on_speech`, :meth:`on_pause` or :meth:`on_end` as the detector says;
    the STT's results come to :meth:`on_stt_result`. :meth:`cancel_held` drops the held answer
    (typed text or DTMF answers first), :meth:`close` everything.

    Threading: loop only; STT results arrive through the loop's bridge.
    """

    def __init__(
        self,
        host: EndOfTurnHost,
        *,
        providers: ProviderSet,
        utterance: UtteranceDetector,
        config: EngineConfig,
    ) -> None:
        self.host = host
        self.providers = providers
        self.utterance = utterance
        self.config = config
        self._awaiting_final = False
        self._final_parts: list[str] = []
        self._last_partial = ""
        self._end_of_speech_at: float | None = None
        self._final_timer: asyncio.TimerHandle | None = None
        self._peek: list[str] | None = None  # the slot of this pause's peek
        self._peeks: deque[list[str]] = deque()  # slots of unanswered peeks, oldest first
        self._peek_text = ""
        self._held: Turn | None = None
        self._utt_audio: list[bytes] | None = None  # for resume_utterance after a peek

    # -- the detector's decisions --------------------------------------------------------------

    def feed(self, frame: bytes) -> None:
        """A caller frame, before the detector's step: to the STT while it listens."""
        stt = self.providers.stt
        if stt.continuous:
            stt.push(frame)
        if not self.utterance.in_utterance:
            return
        peek = self._peek
        if not stt.continuous and (peek is None or not stt.peek_ends_utterance):
            stt.push(frame)
        audio = self._utt_audio
        if audio is not None:
            audio.append(frame)
            if len(audio) > MAX_RESUME_FRAMES and peek is None:
                self._utt_audio = None

    def on_onset(self) -> None:
        """An utterance starts: the STT gets its pre-roll."""
        self._peek = None
        self._peek_text = ""
        if self._final_timer is not None:  # speech resumed while waiting for a final
            self._final_timer.cancel()
            self._final_timer = None
        self._awaiting_final = False
        preroll = self.utterance.take_preroll()
        stt = self.providers.stt
        if not stt.continuous:
            stt.begin_utterance(b"".join(preroll))
            speculate = 0 < self.config.speculative_silence_ms < self.config.end_of_turn_silence_ms
            self._utt_audio = preroll if speculate and stt.peek_ends_utterance else None

    def on_speech(self) -> None:
        """Speech in an open utterance: after a peek, the caller spoke again in the pause."""
        if self._peek is not None:
            self._resume_after_peek()

    def on_pause(self) -> None:
        """Silence in an open utterance: peek once it has lasted `speculative_silence_ms`."""
        if self.utterance.silence_ms >= self.config.speculative_silence_ms > 0 and self._can_peek():
            self._peek = [SPECULATE]
            self._peeks.append(self._peek)
            self.providers.stt.peek_final()

    def on_end(self) -> None:
        """The utterance ended (`end_of_turn_silence_ms` of silence)."""
        self._end_of_speech_at = self.utterance.speech_end_at
        if self._peek is not None:
            self._confirm_peek()
            return
        self._utt_audio = None
        stt = self.providers.stt
        if stt.continuous and self._final_parts:
            self._awaiting_final = True
            self._end_of_turn()
            return
        self._await_final()
        if not stt.continuous:
            stt.end_utterance()

    # -- the recognizer ------------------------------------------------------------------------

    def on_stt_result(self, result: SttResult) -> None:
        host = self.host
        if host.closed:
            return
        text = result.text.strip()
        if result.speculative:
            self._on_peek_result(text, definitive=result.is_final)
            return
        if not result.is_final:
            if text and text != self._last_partial:
                self._last_partial = text
                host.emitter(UserTranscript(host.session_id, host.next_turn_id(), text, False))
            return
        if text:
            self._final_parts.append(text)
        if self._awaiting_final:
            self._end_of_turn()
        elif (
            self.providers.stt.continuous and not self.utterance.in_utterance and self._final_parts
        ):
            # The recognizer heard speech the VAD missed: answer it.
            self._end_of_speech_at = None
            self._end_of_turn()

    def _await_final(self) -> None:
        self._awaiting_final = True
        if self._final_timer is not None:
            self._final_timer.cancel()
        timeout_ms = self.providers.stt.final_timeout_ms or self.config.stt_final_timeout_ms
        self._final_timer = self.host.loop.call_later(timeout_ms / 1000, self._on_final_timeout)

    def _on_final_timeout(self) -> None:
        self._final_timer = None
        self._peeks.clear()  # see the module docstring
        self.cancel_held()
        if self._awaiting_final:
            if not self._final_parts and self._last_partial:
                self._final_parts.append(self._last_partial)
            if not self._final_parts:
                host = self.host
                logger.warning("session %s: no final from the recognizer in time", host.session_id)
                host.stt_failed("final timed out")
            self._end_of_turn()

    def _end_of_turn(self) -> None:
        if self._final_timer is not None:
            self._final_timer.cancel()
            self._final_timer = None
        self._awaiting_final = False
        text = " ".join(self._final_parts).strip()
        self._final_parts = []
        self._last_partial = ""
        if not text:
            return  # noise: nothing to answer
        now = self.host.loop.time()
        eos = self._end_of_speech_at if self._end_of_speech_at is not None else now
        self.host.user_turn(text, source="voice", started_at=eos, stt_final_ms=(now - eos) * 1000)

    # -- speculation ---------------------------------------------------------------------------

    def _can_peek(self) -> bool:
        stt = self.providers.stt
        return (
            self._peek is None
            and not stt.continuous
            and (not stt.peek_ends_utterance or self._utt_audio is not None)
        )

    def _on_peek_result(self, text: str, definitive: bool = True) -> None:
        if not definitive:
            # A first pass (its peek is the oldest unanswered one): start on it; the
            # definitive answer that follows keeps or replaces what it started.
            if self._peeks and self._peeks[0][0] in (SPECULATE, FINAL):
                self._speculate(text)
            return
        slot = self._peeks.popleft() if self._peeks else [STALE]
        purpose = slot[0]
        if purpose == STALE:
            return
        if purpose == FINAL:
            self._take_final(text)
            return
        slot[0] = ANSWERED
        self._peek_text = text
        self._speculate(text)

    def _speculate(self, text: str) -> None:
        """Prepare the answer to `text`, held (unless already prepared for the same text).

        A caller talking over the agent is answered only once the end of turn is confirmed
        (the barge-in path deals with the agent first).
        """
        parts = " ".join([*self._final_parts, text]).strip()
        turn = self._held
        if turn is not None:
            if turn.user_text == parts:
                return
            self.cancel_held()
        if not parts or self.host.agent_speaking:
            return
        eos = self.utterance.speech_end_at
        now = self.host.loop.time()
        self._held = self.host.hold_turn(parts, started_at=eos, stt_final_ms=(now - eos) * 1000)

    def _resume_after_peek(self) -> None:
        """The caller spoke again during the pause: forget the speculation, go on listening."""
        peek, self._peek = self._peek, None
        if peek[0] == SPECULATE:  # its answer is still to come
            peek[0] = STALE
        self.cancel_held()
        stt = self.providers.stt
        stt.resume_utterance(b"".join(self._utt_audio) if stt.peek_ends_utterance else b"")

    def _confirm_peek(self) -> None:
        """End of turn after a peek: the peek's answer is the final (now or when it comes)."""
        peek, self._peek = self._peek, None
        self._utt_audio = None
        self.providers.stt.commit_utterance()
        if peek[0] == SPECULATE:  # not answered yet: it will be the final
            peek[0] = FINAL
            self._await_final()
            return
        self._awaiting_final = True
        self._take_final(self._peek_text)

    def _take_final(self, text: str) -> None:
        """The final of an utterance whose end was confirmed: release its held answer if it
        was prepared for exactly this text, else answer it the usual way."""
        host = self.host
        parts = " ".join([*self._final_parts, text]).strip()
        turn, self._held = self._held, None
        if (
            turn is None
            or not self._awaiting_final
            or turn.user_text != parts
            or turn.turn_id != host.next_turn_id()
            or host.agent_speaking
        ):
            if turn is not None:
                self._cancel_quietly(turn)
            if text:
                self._final_parts.append(text)
            if self._awaiting_final:
                self._end_of_turn()
            return
        if self._final_timer is not None:
            self._final_timer.cancel()
            self._final_timer = None
        self._final_parts = []
        self._last_partial = ""
        self._awaiting_final = False
        host.adopt_turn(turn, parts)

    def cancel_held(self) -> None:
        """Drop the answer prepared in the pause, leaving no trace."""
        turn, self._held = self._held, None
        if turn is not None:
            self._cancel_quietly(turn)

    def _cancel_quietly(self, turn: Turn) -> None:
        turn.cancel_tasks()
        self.providers.llm.cancel()
        self.providers.tts.cancel()

    def close(self) -> None:
        if self._final_timer is not None:
            self._final_timer.cancel()
        self.cancel_held()
