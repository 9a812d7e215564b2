"""The conversation session: turn-taking, barge-in and output for one conversation."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from media.engine.audio import InputFramer
from media.engine.config import EngineConfig
from media.engine.dtmf import DtmfCollector
from media.engine.events import (
    AudioFrame,
    AudioPause,
    BargeIn,
    SessionError,
    UserTranscript,
)
from media.engine.pacing import OutputPacer
from media.engine.session_base import SessionBase
from media.engine.speculation import FINAL, MAX_RESUME_FRAMES, STALE, SpeculationMixin
from media.engine.threads import SessionWorkers, ThreadBridge
from media.engine.turn import Turn
from media.engine.utterance import END, ONSET, PAUSE, SPEECH, UtteranceDetector
from media.providers.base import ProviderContext, ProviderStartError, SttResult

logger = logging.getLogger(__name__)

__all__ = ["ConversationSession", "EngineConfig", "SessionStartError"]


class SessionStartError(RuntimeError):
    """A provider could not start, so the conversation cannot."""


class ConversationSession(SpeculationMixin, SessionBase):
    """One conversation: 20 ms PCM16 frames in, events (text, audio frames, stops) out.

    Input: :meth:`push_audio` frames go through the VAD on the loop, in order (a batched VAD
    answers at the end of the loop iteration, its model run shared by all sessions), and the
    :class:`~media.engine.utterance.UtteranceDetector` says where the caller's utterances
    start and end: at onset (after `speech_onset_ms` of speech) the STT gets the pre-roll and
    every later frame. After `speculative_silence_ms` of silence the answer is prepared and
    held; after `end_of_turn_silence_ms` the user's turn ends and the held answer is released
    at once (see :mod:`media.engine.speculation`; without speculation, the STT is asked for
    its final then, and the final ends the turn). End of speech, from which a turn's latencies are
    measured, is where the caller's sound stopped: the arrival of the last frame the VAD counted
    as speech, less the quiet tail the VAD held on to (`UtteranceDetector.speech_end_at`). A
    turn runs the LLM, tools and TTS (:class:`~media.engine.turn.Turn`); audio leaves through the
    :class:`~media.engine.pacing.OutputPacer` at real time.

    Barge-in is pause first, then cancel. After `barge_in_pause_ms` of speech while the agent
    speaks, the pacer pauses (taking back what was sent and not yet heard) and `AudioPause`
    is emitted: the transport stops playback at once, and the answer keeps being prepared.
    If `barge_in_resume_ms` of silence come before `barge_in_min_speech_ms` of speech (a
    cough, a click), playback resumes where the listener stopped hearing. Otherwise the
    barge-in (also typed text, DTMF, or :meth:`interrupt`) runs synchronously on the loop, in
    this order: the pacer's queue is cleared, queued frames of the turn are purged from the
    emitter, the turn id is bumped, the turn's tasks and the providers' work are cancelled,
    `BargeIn` is emitted, and the history is cut to what was heard. Since all of that happens
    without an await, no frame of the cancelled turn can be emitted after its `BargeIn`.

    Threading: every method must be called on the event loop that called :meth:`start`,
    except that providers' worker threads reach the session only through the loop's
    :class:`~media.engine.threads.ThreadBridge`. `emit` is called on the loop, in order.
    """

    def __init__(
        self, *, providers: Any, output_sample_rate_hz: int = 16000, **conversation: Any
    ) -> None:
        """`conversation`: the arguments of :class:`~media.engine.session_base.SessionBase`."""
        super().__init__(output_sample_rate_hz=output_sample_rate_hz, **conversation)
        self.providers = providers
        self._turn_used = True
        self._turn: Turn | None = None
        self._started = False
        self._closed = False
        # Input state
        cfg = self.config
        self._input = InputFramer()
        self._vad_frames: deque[tuple[bytes, float]] = deque()  # waiting for their probability
        self.utterance = UtteranceDetector(cfg)
        # Speech over the agent below this does nothing (the pause's gate, else the barge-in's).
        self._first_stop_ms = min(
            (g for g in (cfg.barge_in_pause_ms, cfg.barge_in_min_speech_ms) if g > 0), default=1
        )
        self._paused_at: float | None = None  # when an audible pause put the stop on the wire
        self._barged_in_utterance = False
        self._awaiting_final = False
        self._final_parts: list[str] = []
        self._last_partial = ""
        self._end_of_speech_at: float | None = None
        self._final_timer: asyncio.TimerHandle | None = None
        self._dtmf = DtmfCollector(self._on_dtmf, flush_ms=cfg.dtmf_flush_ms)
        # Speculative end of turn (media.engine.speculation)
        self._peek: list[str] | None = None  # the slot of this pause's peek
        self._peeks: deque[list[str]] = deque()  # slots of unanswered peeks, oldest first
        self._peek_text = ""
        self._spec_turn: Turn | None = None
        self._utt_audio: list[bytes] | None = None  # for resume_utterance after a peek

    # -- public API ---------------------------------------------------------------------------

    @property
    def agent_speaking(self) -> bool:
        """The agent is answering (thinking or playing audio)."""
        return self._turn is not None or (self.pacer is not None and self.pacer.is_playing())

    async def start(self) -> None:
        """Start the providers and speak the greeting (the return greeting when resumed).

        Raises:
            SessionStartError: a provider cannot start; the message names it and why.
        """
        if self._started:
            return
        self.loop = asyncio.get_running_loop()
        bridge = ThreadBridge.for_loop(self.loop)
        self.workers = SessionWorkers(bridge, self.config.max_jobs_in_flight)
        self.pacer = OutputPacer(
            self.loop,
            self.output_sample_rate_hz,
            self._send_frame,
            self._on_turn_audio_end,
            lead_ms=self.config.output_lead_ms,
            speed=self.config.pacing_speed,
        )
        context = ProviderContext(self.session_id, self.workers, self.output_sample_rate_hz)
        started = []
        for kind in ("vad", "stt", "llm", "tts"):
            provider = getattr(self.providers, kind)
            try:
                await provider.start(context)
            except Exception as exc:
                for other in started:
                    await _close_quietly(other, self.session_id)
                name = type(provider).__name__
                detail = (
                    str(exc)
                    if isinstance(exc, ProviderStartError)
                    else f"{type(exc).__name__}: {exc}"
                )
                raise SessionStartError(
                    f"session {self.session_id}: the {kind} provider {name} "
                    f"could not start: {detail}"
                ) from exc
            started.append(provider)
        self.providers.stt.set_listener(self._on_stt_result, self._on_stt_error)
        self._started = True
        agent = self.roster.get(self.active_agent)
        greeting = (agent.return_greeting or agent.greeting) if self.resumed else agent.greeting
        if greeting:
            self._start_turn("", started_at=self.loop.time(), greeting=greeting)

    def push_audio(self, pcm16: bytes, sample_rate_hz: int = 16000) -> None:
        """Feed caller audio: PCM16 mono, any chunk size; 24 kHz (or any rate) is resampled."""
        if not self._started or self._closed:
            return
        for frame in self._input.push(pcm16, sample_rate_hz):
            self._on_frame(frame)

    async def send_text(self, text: str) -> None:
        """A typed user message: treated as a final transcript."""
        text = text.strip()
        if text and self._started and not self._closed:
            self._user_turn(text, source="text", started_at=self.loop.time(), stt_final_ms=None)

    def push_dtmf(self, digits: str) -> None:
        """DTMF tones; sent to the agent as text after a pause or on '#'."""
        if not self._started or self._closed:
            return
        self._dtmf.push(digits)

    async def interrupt(self, reason: str = "stop") -> bool:
        """Stop the agent now (e.g. a stop button). Returns False when it was not speaking."""
        if not self._started:
            return False
        return self._barge_in(reason, self.loop.time())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._final_timer is not None:
            self._final_timer.cancel()
        self._dtmf.close()
        self._cancel_speculation()
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.cancel_tasks()
            # The conversation ends mid-answer: the turn is kept, as heard so far.
            turn.interrupt(self.loop.time(), None)
        if self.pacer is not None:
            self.pacer.clear()
        if self._started:
            for kind in ("stt", "tts", "llm", "vad"):
                await _close_quietly(getattr(self.providers, kind), self.session_id)

    # -- input --------------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        # The VAD may answer later (Silero batches windows across sessions): frames wait here
        # with their arrival time and are processed in order as their probabilities come.
        self._vad_frames.append((frame, self.loop.time()))
        self.providers.vad.feed(frame, self._on_frame_probability)

    def _on_frame_probability(self, p: float) -> None:
        if self._closed or not self._vad_frames:
            return
        frame, frame_at = self._vad_frames.popleft()
        cfg = self.config
        stt = self.providers.stt
        utterance = self.utterance
        if stt.continuous:
            stt.push(frame)
        if utterance.in_utterance:
            peek = self._peek
            if not stt.continuous and (peek is None or not stt.peek_ends_utterance):
                stt.push(frame)
            audio = self._utt_audio
            if audio is not None:
                audio.append(frame)
                if len(audio) > MAX_RESUME_FRAMES and peek is None:
                    self._utt_audio = None
        step = utterance.step(frame, p, frame_at)
        if step == ONSET:
            self._on_speech_onset()
        elif step == SPEECH:
            if self._peek is not None:
                self._resume_after_peek()
        elif step == END:
            self._on_end_of_speech()
        elif (
            step == PAUSE
            and utterance.silence_ms >= cfg.speculative_silence_ms > 0
            and self._can_peek()
        ):
            self._start_peek()
        speech_ms = utterance.speech_ms
        if speech_ms >= self._first_stop_ms and self.agent_speaking:
            if speech_ms >= cfg.barge_in_min_speech_ms and not self._barged_in_utterance:
                self._barged_in_utterance = True
                self._barge_in("barge_in", self.loop.time())
            elif speech_ms >= cfg.barge_in_pause_ms > 0 and not self.pacer.paused:
                self._pause_output(self.loop.time())
        elif utterance.quiet_ms >= cfg.barge_in_resume_ms and self.pacer.paused:
            self._resume_output()  # it was not the caller taking the turn: play on

    def _on_speech_onset(self) -> None:
        self._peek = None
        self._peek_text = ""
        self._barged_in_utterance = False
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

    def _on_end_of_speech(self) -> None:
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

    def _await_final(self) -> None:
        self._awaiting_final = True
        if self._final_timer is not None:
            self._final_timer.cancel()
        timeout_ms = self.providers.stt.final_timeout_ms or self.config.stt_final_timeout_ms
        self._final_timer = self.loop.call_later(timeout_ms / 1000, self._on_final_timeout)

    def _on_stt_result(self, result: SttResult) -> None:
        if self._closed:
            return
        text = result.text.strip()
        if result.speculative:
            self._on_peek_result(text, definitive=result.is_final)
            return
        if not result.is_final:
            if text and text != self._last_partial:
                self._last_partial = text
                self.emitter(UserTranscript(self.session_id, self._next_turn_id(), text, False))
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

    def _on_stt_error(self, message: str) -> None:
        logger.warning("session %s: stt failed: %s", self.session_id, message)
        self.emitter(SessionError(self.session_id, self._turn_id, stage="stt", message=message))

    def _on_final_timeout(self) -> None:
        self._final_timer = None
        for slot in self._peeks:  # a peek answer arriving now belongs to no turn
            if slot[0] == FINAL:
                slot[0] = STALE
        self._cancel_speculation()
        if self._awaiting_final:
            if not self._final_parts and self._last_partial:
                self._final_parts.append(self._last_partial)
            if not self._final_parts:
                logger.warning("session %s: no final from the recognizer in time", self.session_id)
                self.emitter(
                    SessionError(
                        self.session_id, self._turn_id, stage="stt", message="final timed out"
                    )
                )
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
        now = self.loop.time()
        eos = self._end_of_speech_at if self._end_of_speech_at is not None else now
        self._user_turn(text, source="voice", started_at=eos, stt_final_ms=(now - eos) * 1000)

    def _on_dtmf(self, digits: str) -> None:
        self._user_turn(digits, source="dtmf", started_at=self.loop.time(), stt_final_ms=None)

    # -- turns --------------------------------------------------------------------------------

    def _next_turn_id(self) -> int:
        return self._turn_id + 1 if self._turn_used else self._turn_id

    def _user_turn(
        self, text: str, *, source: str, started_at: float, stt_final_ms: float | None
    ) -> None:
        if source != "voice":
            self._cancel_speculation()  # typed text or DTMF answers first; the pause goes on
        if self.agent_speaking:
            self._barge_in(f"user_{source}" if source != "voice" else "barge_in", self.loop.time())
        turn_id = self._next_turn_id()
        self.emitter(UserTranscript(self.session_id, turn_id, text, True, source))
        self._start_turn(text, started_at=started_at, stt_final_ms=stt_final_ms)

    def _start_turn(
        self, text: str, *, started_at: float, stt_final_ms: float | None = None, greeting: str = ""
    ) -> None:
        self._resume_output()  # a pause held nothing of an earlier turn (a barge-in came first)
        self._turn_id = self._next_turn_id()
        self._turn_used = True
        turn = Turn(
            self,
            self._turn_id,
            text,
            started_at=started_at,
            stt_final_ms=stt_final_ms,
            greeting=greeting,
        )
        self._turn = turn
        turn.start()

    def _send_frame(self, turn_id: int, pcm: bytes, index: int, is_last: bool) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id and turn.marks.first_audio is None:
            turn.marks.first_audio = self.loop.time()
        self.emitter(
            AudioFrame(self.session_id, turn_id, pcm, self.output_sample_rate_hz, index, is_last)
        )

    def _on_turn_audio_end(self, turn_id: int) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id:
            self._turn = None
            turn.finish()

    def _pause_output(self, decided_at: float) -> None:
        """Stop playback provisionally (see the class docstring); the turn goes on."""
        pacer = self.pacer
        audible = pacer.playing_until > self.loop.time()
        pacer.pause()
        if audible:
            turn = self._turn
            paused = turn.turn_id if turn is not None else self._turn_id
            self._paused_at = now = self.loop.time()
            reaction_ms = (now - decided_at) * 1000.0
            self.emitter(AudioPause(self.session_id, paused, reaction_ms=reaction_ms))

    def _resume_output(self) -> None:
        self._paused_at = None
        self.pacer.resume()

    def _barge_in(self, reason: str, decided_at: float) -> bool:
        """Cancel the agent's answer now. Synchronous: nothing can interleave."""
        turn = self._turn
        if turn is None and not (self.pacer is not None and self.pacer.is_playing()):
            return False
        cancelled = turn.turn_id if turn is not None else self._turn_id
        self.pacer.clear()
        self.emitter.drop_audio_before(cancelled + 1)
        if self._turn_used:
            self._turn_id = max(self._turn_id, cancelled) + 1
            self._turn_used = False
        self._turn = None
        if turn is not None:
            turn.cancel_tasks()
        self.providers.llm.cancel()
        self.providers.tts.cancel()
        now = self.loop.time()
        reaction_ms = (now - decided_at) * 1000.0
        # For the turn's metrics: the caller's first speech frame → the first stop on the wire
        # (the pause, when there was one); for text, DTMF or a stop button, request → stop.
        stopped_at, self._paused_at = self._paused_at or now, None
        barge_in_ms = (
            (stopped_at - self.utterance.speech_run_at) * 1000.0 if reason == "barge_in" else None
        )
        self.emitter(BargeIn(self.session_id, cancelled, reason=reason, reaction_ms=reaction_ms))
        if turn is not None:
            turn.interrupt(now, reaction_ms if barge_in_ms is None else barge_in_ms)
        logger.info(
            "session %s: barge-in (%s) cancelled turn %s", self.session_id, reason, cancelled
        )
        return True


async def _close_quietly(provider: Any, session_id: str) -> None:
    try:
        await provider.close()
    except Exception:
        logger.exception("session %s: closing %s failed", session_id, type(provider).__name__)
