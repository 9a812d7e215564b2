"""The agent's audio on its way out, and the stop of a barge-in: one path for both engines.

Both the cascade (:class:`~media.engine.session.ConversationSession`) and the realtime
service (:class:`~media.realtime.session.RealtimeSession`) play their answers through an
:class:`AgentAudio`: it builds the session's :class:`~media.engine.pacing.OutputPacer`, emits
each paced frame as an `AudioFrame`, pauses and resumes playback, and stops it for a barge-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from media.engine.config import EngineConfig
from media.engine.emitter import EventEmitter
from media.engine.events import AudioFrame, AudioPause, BargeIn
from media.engine.pacing import OutputPacer


class AgentAudio:
    """The session's pacer and the events that start, pause and stop the agent's audio.

    `on_frame(turn_id)` is called before each frame is emitted (the session marks the turn's
    first audio); `on_audio_end(turn_id)` when the last frame of a turn has been sent.

    Threading: loop only. Every method is synchronous, so a stop cannot interleave with a frame.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        session_id: str,
        emitter: EventEmitter,
        sample_rate_hz: int,
        config: EngineConfig,
        on_frame: Callable[[int], None],
        on_audio_end: Callable[[int], None],
    ) -> None:
        self._loop = loop
        self._session_id = session_id
        self._emitter = emitter
        self._sample_rate_hz = sample_rate_hz
        self._on_frame = on_frame
        self.paused_at: float | None = None  # when an audible pause put the stop on the wire
        self.pacer = OutputPacer(
            loop,
            sample_rate_hz,
            self._send_frame,
            on_audio_end,
            lead_ms=config.output_lead_ms,
            speed=config.pacing_speed,
        )

    def _send_frame(self, turn_id: int, pcm: bytes, index: int, is_last: bool) -> None:
        self._on_frame(turn_id)
        self._emitter(
            AudioFrame(self._session_id, turn_id, pcm, self._sample_rate_hz, index, is_last)
        )

    def pause(self, turn_id: int, decided_at: float) -> None:
        """Stop playback provisionally (the answer goes on being prepared).

        `AudioPause` is emitted only when something was audible (sent and not yet played).
        """
        pacer = self.pacer
        audible = pacer.playing_until > self._loop.time()
        pacer.pause()
        if audible:
            self.paused_at = now = self._loop.time()
            reaction_ms = (now - decided_at) * 1000.0
            self._emitter(AudioPause(self._session_id, turn_id, reaction_ms=reaction_ms))

    def resume(self) -> None:
        """Play on where the listener stopped hearing (nothing happens when not paused)."""
        self.paused_at = None
        self.pacer.resume()

    def barge_in(
        self, turn_id: int, reason: str, decided_at: float, cancel: Callable[[float], None]
    ) -> tuple[float, float, float]:
        """Stop turn `turn_id`'s audio now and say so; synchronous, in this order.

        The pacer's queue is cleared, the turn's frames still queued in the emitter are
        dropped, `cancel(stop_at)` cancels the engine's work (`stop_at`: the loop time the stop
        began), then `BargeIn` is emitted. Since nothing awaits, no frame of the turn can be
        emitted after its `BargeIn`.

        Returns:
            `(now, reaction_ms, stopped_at)`: the time after the cancel, decision → `BargeIn`,
            and when the first stop reached the wire (the pause's, when there was one).
        """
        stop_at = self._loop.time()
        self.pacer.clear()
        self._emitter.drop_audio_before(turn_id + 1)
        cancel(stop_at)
        now = self._loop.time()
        reaction_ms = (now - decided_at) * 1000.0
        stopped_at, self.paused_at = self.paused_at or now, None
        self._emitter(BargeIn(self._session_id, turn_id, reason=reason, reaction_ms=reaction_ms))
        return now, reaction_ms, stopped_at
