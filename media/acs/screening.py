"""An outbound call's first seconds: who answered, and the message a voicemail box is left.

:class:`OutboundScreen` holds a screened call's audio (`Call.voicemail_message` set) until
:class:`~media.voicemail.VoicemailScreen` decides who picked up. A person, a call-screening
service or silence gets the agent (the consumer then opens the conversation, whose greeting
says who is calling); a voicemail box gets the message once its beep has sounded (or its
greeting ended), spoken by the configured TTS and played as a conversation's answer is (the
engine's :class:`~media.engine.output.AgentAudio`: `AudioFrame` events paced at real time),
and the call ends.

The recognizer is the configured STT in utterance mode, asked for the text of the speech so
far (a continuous, cloud recognizer is not asked: beep and timing decide). Threading: every
method runs on the consumer's loop; the recognizer and the synthesizer run on the session's
workers as in a conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from media.engine.audio import FRAME_MS, STT_SAMPLE_RATE_HZ, InputFramer, frame_bytes
from media.engine.audio import resample as resample_pcm
from media.engine.config import EngineConfig
from media.engine.emitter import EventEmitter
from media.engine.events import Event
from media.engine.output import AgentAudio
from media.engine.snapshot import VoiceSpec
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers.base import STT, TTS, VAD, ProviderContext, SttResult
from media.voicemail import MESSAGE_CUE_MAX_MS, Decision, VoicemailScreen

logger = logging.getLogger(__name__)

MESSAGE_TURN_ID = 1  # the message's frames are the one turn of the screen's output


class OutboundScreen:
    def __init__(
        self,
        *,
        session_id: str,
        stt: STT,
        vad: VAD,
        tts: TTS,
        voice: VoiceSpec,
        message: str,
        emit: Callable[[Event], Any],
        output_sample_rate_hz: int,
        config: EngineConfig | None = None,
    ) -> None:
        """`emit` gets the message's `AudioFrame` events, in order (as a session's `emit`)."""
        self.session_id = session_id
        self.stt, self.vad, self.tts, self.voice = stt, vad, tts, voice
        self.message = message
        self.output_sample_rate_hz = output_sample_rate_hz
        self.config = config or EngineConfig()
        self.screen = VoicemailScreen(vad.speech_probability, self._transcribe)
        self._emitter = EventEmitter(emit, session_id)
        self._audio: AgentAudio | None = None
        self._input = InputFramer()
        self._final: asyncio.Future[str] | None = None
        self._asking = asyncio.Lock()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        workers = SessionWorkers(ThreadBridge.for_loop(loop), self.config.max_jobs_in_flight)
        await self.vad.start(ProviderContext(self.session_id, workers, STT_SAMPLE_RATE_HZ))
        await self.stt.start(ProviderContext(self.session_id, workers, STT_SAMPLE_RATE_HZ))
        self.stt.set_listener(self._on_result)
        await self.tts.start(ProviderContext(self.session_id, workers, self.tts.sample_rate_hz))

    def push_audio(self, pcm16: bytes, sample_rate_hz: int = STT_SAMPLE_RATE_HZ) -> None:
        for frame in self._input.push(pcm16, sample_rate_hz):
            self.screen.push(frame)

    async def decision(self) -> Decision:
        await self.screen.decided.wait()
        return self.screen.detector.decision  # type: ignore[return-value]

    async def leave_message(self) -> float:
        """Wait for the beep (or the greeting's end), say the message; seconds of audio sent."""
        try:
            await asyncio.wait_for(self.screen.cued.wait(), MESSAGE_CUE_MAX_MS / 1000 + 5)
        except TimeoutError:
            logger.info("session %s: no beep or end of greeting heard", self.session_id)
        loop = asyncio.get_running_loop()
        rate = self.output_sample_rate_hz
        sent = asyncio.Event()
        audio = self._audio = AgentAudio(
            loop,
            session_id=self.session_id,
            emitter=self._emitter,
            sample_rate_hz=rate,
            config=self.config,
            on_frame=lambda turn_id: None,
            on_audio_end=lambda turn_id: sent.set(),
        )
        async for chunk in self.tts.synthesize(self.message, self.voice):
            audio.pacer.enqueue(
                MESSAGE_TURN_ID, resample_pcm(chunk, self.tts.sample_rate_hz, rate), None
            )
        audio.pacer.end_turn(MESSAGE_TURN_ID)
        await sent.wait()
        await self._emitter.wait_idle()
        # The box records until the call ends: let the last frame play out first.
        await asyncio.sleep(max(0.0, audio.pacer.playing_until - loop.time()))
        return audio.pacer.frames_sent * FRAME_MS / 1000

    async def _transcribe(self, pcm: bytes) -> str:
        if self.stt.continuous:
            return ""
        async with self._asking:
            self._final = asyncio.get_running_loop().create_future()
            self.stt.begin_utterance(b"")
            step = frame_bytes(STT_SAMPLE_RATE_HZ)
            for start in range(0, len(pcm) - step + 1, step):
                self.stt.push(pcm[start : start + step])
            self.stt.end_utterance()
            timeout_s = (self.stt.final_timeout_ms or self.config.stt_final_timeout_ms) / 1000
            try:
                return await asyncio.wait_for(self._final, timeout_s)
            finally:
                self._final = None

    def _on_result(self, result: SttResult) -> None:
        if result.is_final and self._final is not None and not self._final.done():
            self._final.set_result(result.text.strip())

    async def close(self) -> None:
        if self._audio is not None:  # a message cut short: none of it leaves after this
            self._audio.pacer.clear()
            self._emitter.drop_audio_before(MESSAGE_TURN_ID + 1)
        await self.screen.close()
        for provider in (self.stt, self.vad, self.tts):
            try:
                await provider.close()
            except Exception:
                logger.exception("session %s: closing %s failed", self.session_id, provider.kind)
