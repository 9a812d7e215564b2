"""The conversation session: turn-taking, barge-in and output for one conversation."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from media.engine.audio import InputFramer
from media.engine.config import EngineConfig
from media.engine.dtmf import DtmfCollector
from media.engine.end_of_turn import EndOfTurn
from media.engine.events import SessionError, UserTranscript
from media.engine.session_base import SessionBase
from media.engine.turn import Turn
from media.engine.utterance import END, ONSET, PAUSE, SPEECH, UtteranceDetector
from media.providers.base import ProviderContext, ProviderStartError

logger = logging.getLogger(__name__)

__all__ = ["ConversationSession", "EngineConfig", "SessionStartError"]


class SessionStartError(RuntimeError):
    """A provider could not start, so the conversation cannot."""


class ConversationSession(SessionBase):
    """One conversation: 20 ms PCM16 frames in, events (text, audio frames, stops) out.

    Input: :meth:`push_audio` frames go through the VAD on the loop, in order (a batched VAD
    answers at the end of the loop iteration, its model run shared by all sessions), and the
    :class:`~media.engine.utterance.UtteranceDetector` says where the caller's utterances
    start and end; the :class:`~media.engine.end_of_turn.EndOfTurn` feeds the STT from the
    onset (after `speech_onset_ms` of speech, with the pre-roll). After `speculative_silence_ms`
    of silence the answer is prepared and held; after `end_of_turn_silence_ms` the user's turn
    ends and the held answer is released at once (see :mod:`media.engine.end_of_turn`; without
    speculation, the STT is asked for its final then, and the final ends the turn). The session
    implements the narrow interfaces its parts call back: `EndOfTurnHost` and
    :class:`~media.engine.turn.TurnHost`. End of speech, from which a turn's latencies are
    measured, is where the caller's sound stopped: the arrival of the last frame the VAD counted
    as speech, less the quiet tail the VAD held on to (`UtteranceDetector.speech_end_at`). A
    turn runs the LLM, tools and TTS (:class:`~media.engine.turn.Turn`); audio leaves through the
    :class:`~media.engine.output.AgentAudio` (its :class:`~media.engine.pacing.OutputPacer`) at
    real time.

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
        cfg = self.config
        self._input = InputFramer()
        self._vad_frames: deque[tuple[bytes, float]] = deque()  # waiting for their probability
        self.utterance = UtteranceDetector(cfg)
        self.end_of_turn = EndOfTurn(
            self, providers=providers, utterance=self.utterance, config=cfg
        )
        # Speech over the agent below this does nothing (the pause's gate, else the barge-in's).
        self._first_stop_ms = min(
            (g for g in (cfg.barge_in_pause_ms, cfg.barge_in_min_speech_ms) if g > 0), default=1
        )
        self._barged_in_utterance = False
        self._dtmf = DtmfCollector(self._on_dtmf, flush_ms=cfg.dtmf_flush_ms)

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
        self._start_audio(on_frame=self._on_frame_sent, on_audio_end=self._on_turn_audio_end)
        context = ProviderContext(self.session_id, self.workers, self.output_sample_rate_hz)
        await _start_providers(self.providers, context, self.session_id)
        self.providers.stt.set_listener(self.end_of_turn.on_stt_result, self.stt_failed)
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
            self.user_turn(text, source="text", started_at=self.loop.time(), stt_final_ms=None)

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
        self.end_of_turn.close()
        self._dtmf.close()
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
        utterance = self.utterance
        end_of_turn = self.end_of_turn
        end_of_turn.feed(frame)
        step = utterance.step(frame, p, frame_at)
        if step == ONSET:
            self._barged_in_utterance = False
            end_of_turn.on_onset()
        elif step == SPEECH:
            end_of_turn.on_speech()
        elif step == END:
            end_of_turn.on_end()
        elif step == PAUSE:
            end_of_turn.on_pause()
        speech_ms = utterance.speech_ms
        if speech_ms >= self._first_stop_ms and self.agent_speaking:
            if speech_ms >= cfg.barge_in_min_speech_ms and not self._barged_in_utterance:
                self._barged_in_utterance = True
                self._barge_in("barge_in", self.loop.time())
            elif speech_ms >= cfg.barge_in_pause_ms > 0 and not self.pacer.paused:
                turn = self._turn
                self.audio.pause(
                    turn.turn_id if turn is not None else self._turn_id, self.loop.time()
                )
        elif utterance.quiet_ms >= cfg.barge_in_resume_ms and self.pacer.paused:
            self.audio.resume()  # it was not the caller taking the turn: play on

    def stt_failed(self, message: str) -> None:
        """Report a recognizer failure; unless the agent is talking, ask the caller again."""
        logger.warning("session %s: stt failed: %s", self.session_id, message)
        self.emitter(SessionError(self.session_id, self._turn_id, stage="stt", message=message))
        if not self.agent_speaking and not self.closed:
            self._start_turn("", started_at=self.loop.time(), apology=self.config.unheard_text)

    def _on_dtmf(self, digits: str) -> None:
        self.user_turn(digits, source="dtmf", started_at=self.loop.time(), stt_final_ms=None)

    # -- turns (EndOfTurnHost) ----------------------------------------------------------------

    def next_turn_id(self) -> int:
        """The id the next user turn will have."""
        return self._turn_id + 1 if self._turn_used else self._turn_id

    def user_turn(
        self, text: str, *, source: str, started_at: float, stt_final_ms: float | None
    ) -> None:
        """The user's turn ended with `text` (`source`: voice, text or dtmf): answer it."""
        if source != "voice":
            self.end_of_turn.cancel_held()  # typed text or DTMF answers first; the pause goes on
        if self.agent_speaking:
            self._barge_in(f"user_{source}" if source != "voice" else "barge_in", self.loop.time())
        turn_id = self.next_turn_id()
        self.emitter(UserTranscript(self.session_id, turn_id, text, True, source))
        self._start_turn(text, started_at=started_at, stt_final_ms=stt_final_ms)

    def hold_turn(self, text: str, *, started_at: float, stt_final_ms: float) -> Turn:
        """Start a speculative turn answering `text`; nothing of it is heard until adopted."""
        turn = Turn(
            self,
            self.next_turn_id(),
            text,
            started_at=started_at,
            stt_final_ms=stt_final_ms,
            speculative=True,
        )
        turn.start()
        return turn

    def adopt_turn(self, turn: Turn, text: str) -> None:
        """The end of turn is confirmed for `text`: `turn` (held) becomes the turn, released."""
        self._turn_id = turn.turn_id
        self._turn_used = True
        self.emitter(UserTranscript(self.session_id, turn.turn_id, text, True, "voice"))
        self._turn = turn
        turn.release()

    def _start_turn(
        self,
        text: str,
        *,
        started_at: float,
        stt_final_ms: float | None = None,
        greeting: str = "",
        apology: str = "",
    ) -> None:
        self.audio.resume()  # a pause held nothing of an earlier turn (a barge-in came first)
        self._turn_id = self.next_turn_id()
        self._turn_used = True
        turn = Turn(
            self,
            self._turn_id,
            text,
            started_at=started_at,
            stt_final_ms=stt_final_ms,
            greeting=greeting,
            apology=apology,
        )
        self._turn = turn
        turn.start()

    # -- output -------------------------------------------------------------------------------

    def _on_frame_sent(self, turn_id: int) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id and turn.marks.first_audio is None:
            turn.marks.first_audio = self.loop.time()

    def _on_turn_audio_end(self, turn_id: int) -> None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id:
            self._turn = None
            turn.finish()

    def _barge_in(self, reason: str, decided_at: float) -> bool:
        """Cancel the agent's answer now. Synchronous: nothing can interleave."""
        turn = self._turn
        if turn is None and not (self.pacer is not None and self.pacer.is_playing()):
            return False
        cancelled = turn.turn_id if turn is not None else self._turn_id

        def cancel(_stop_at: float) -> None:
            if self._turn_used:
                self._turn_id = max(self._turn_id, cancelled) + 1
                self._turn_used = False
            self._turn = None
            if turn is not None:
                turn.cancel_tasks()
            self.providers.llm.cancel()
            self.providers.tts.cancel()

        now, reaction_ms, stopped_at = self.audio.barge_in(cancelled, reason, decided_at, cancel)
        if turn is not None:
            # For the turn's metrics: the caller's first speech frame → the first stop on the
            # wire (the pause, when there was one); for text, DTMF or a stop button, request →
            # stop.
            if reason == "barge_in":
                reaction_ms = (stopped_at - self.utterance.speech_run_at) * 1000.0
            turn.interrupt(now, reaction_ms)
        logger.info(
            "session %s: barge-in (%s) cancelled turn %s", self.session_id, reason, cancelled
        )
        return True


async def _start_providers(providers: Any, context: ProviderContext, session_id: str) -> None:
    """Start the session's providers in order; on a failure close those started and raise
    :class:`SessionStartError` naming the provider and why."""
    started = []
    for kind in ("vad", "stt", "llm", "tts"):
        provider = getattr(providers, kind)
        try:
            await provider.start(context)
        except Exception as exc:
            for other in started:
                await _close_quietly(other, session_id)
            name = type(provider).__name__
            detail = (
                str(exc) if isinstance(exc, ProviderStartError) else f"{type(exc).__name__}: {exc}"
            )
            raise SessionStartError(
                f"session {session_id}: the {kind} provider {name} could not start: {detail}"
            ) from exc
        started.append(provider)


async def _close_quietly(provider: Any, session_id: str) -> None:
    try:
        await provider.close()
    except Exception:
        logger.exception("session %s: closing %s failed", session_id, type(provider).__name__)
