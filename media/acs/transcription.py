"""Transcription-only calls: the caller's speech as text, with no agent answering.

:class:`CallTranscriber` runs the configured VAD and STT providers on the call audio (the same
turn-taking rules as the conversation engine, without turns for an agent) and emits
`UserTranscript` events: partials while the caller speaks, one final per utterance.
ACS's own `TranscriptionData` messages become the same events through
:func:`transcript_event`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from media.acs.codec import TranscriptionData
from media.engine.audio import STT_SAMPLE_RATE_HZ, InputFramer
from media.engine.config import EngineConfig
from media.engine.emitter import EventEmitter
from media.engine.events import Event, UserTranscript
from media.engine.threads import SessionWorkers, ThreadBridge
from media.engine.utterance import END, ONSET, UtteranceDetector
from media.providers.base import STT, VAD, ProviderContext, SttResult

logger = logging.getLogger(__name__)


def transcript_event(session_id: str, turn_id: int, message: TranscriptionData) -> UserTranscript:
    """An ACS `TranscriptionData` message as the engine's transcript event."""
    return UserTranscript(session_id, turn_id, message.text.strip(), message.is_final, "voice")


class CallTranscriber:
    """VAD + STT over a call's audio; every final is one numbered utterance.

    Utterances start and end by the conversation engine's rules
    (:class:`~media.engine.utterance.UtteranceDetector`); the STT gets each one's pre-roll and
    frames, and is asked for its final when the utterance ends.

    Threading: call everything on the loop that called :meth:`start`; STT results arrive on it
    through the provider's bridge. `emit` is called on the loop, in order.
    """

    def __init__(
        self,
        *,
        session_id: str,
        stt: STT,
        vad: VAD,
        emit: Callable[[Event], Any],
        config: EngineConfig | None = None,
        first_turn_id: int = 1,
    ) -> None:
        self.session_id = session_id
        self.stt = stt
        self.vad = vad
        # Ordered delivery: an async `emit` (storing, relaying) finishes before the next event.
        self.emit = EventEmitter(emit, session_id)
        self.config = config or EngineConfig()
        self.turn_id = first_turn_id
        self.utterances = 0
        self._input = InputFramer()
        self._utterance = UtteranceDetector(self.config)
        self._last_partial = ""
        self._awaiting_final = 0
        self._final_seen: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        workers = SessionWorkers(ThreadBridge.for_loop(self._loop), self.config.max_jobs_in_flight)
        context = ProviderContext(self.session_id, workers, STT_SAMPLE_RATE_HZ)
        await self.vad.start(context)
        await self.stt.start(context)
        self.stt.set_listener(self._on_result)
        self._started = True

    def push_audio(self, pcm16: bytes, sample_rate_hz: int = STT_SAMPLE_RATE_HZ) -> None:
        if not self._started or self._closed:
            return
        for frame in self._input.push(pcm16, sample_rate_hz):
            self._on_frame(frame)

    def _on_frame(self, frame: bytes) -> None:
        probability = self.vad.speech_probability(frame)
        stt = self.stt
        utterance = self._utterance
        if stt.continuous or utterance.in_utterance:
            stt.push(frame)
        step = utterance.step(frame, probability, self._loop.time())
        if step == ONSET:
            preroll = utterance.take_preroll()
            if not stt.continuous:
                stt.begin_utterance(b"".join(preroll))
        elif step == END and not stt.continuous:
            self._awaiting_final += 1
            stt.end_utterance()

    def _on_result(self, result: SttResult) -> None:
        if self._closed:
            return
        text = result.text.strip()
        if not text:
            return
        if not result.is_final:
            if text != self._last_partial:
                self._last_partial = text
                self.emit(UserTranscript(self.session_id, self.turn_id, text, False, "voice"))
            return
        self._last_partial = ""
        self._awaiting_final = max(0, self._awaiting_final - 1)
        if self._final_seen is not None:
            self._final_seen.set()
        self.emit(UserTranscript(self.session_id, self.turn_id, text, True, "voice"))
        self.turn_id += 1
        self.utterances += 1

    async def close(self) -> None:
        """Finish the utterance in progress (its final is still emitted), then stop."""
        if self._closed:
            return
        if self._started and not self.stt.continuous:
            if self._utterance.in_utterance:
                self._utterance.end()
                self._awaiting_final += 1
                self.stt.end_utterance()
            timeout_s = (self.stt.final_timeout_ms or self.config.stt_final_timeout_ms) / 1000
            try:
                async with asyncio.timeout(timeout_s):
                    while self._awaiting_final:
                        self._final_seen = asyncio.Event()
                        await self._final_seen.wait()
            except TimeoutError:
                logger.info("session %s: no final for the last utterance", self.session_id)
        self._closed = True
        for provider in (self.stt, self.vad):
            try:
                await provider.close()
            except Exception:
                logger.exception("session %s: closing %s failed", self.session_id, provider)
