"""The caller's side of speech detection: when an utterance starts, pauses and ends."""

from __future__ import annotations

from collections import deque

from media.engine.audio import sound_end_ms_before
from media.engine.config import EngineConfig

# What a frame was, as :meth:`UtteranceDetector.step` says it.
QUIET = 0  # outside an utterance, and no utterance starts with it
ONSET = 1  # the onset gate was reached with it: an utterance starts (take the pre-roll)
SPEECH = 2  # speech inside an utterance
PAUSE = 3  # silence inside an utterance, shorter than the end of turn
END = 4  # the silence reached `end_of_turn_silence_ms`: the utterance is over

# Frames looked back at for the end of the caller's sound (500 ms). Silero holds on to speech
# for 20-80 ms after most words but up to 160 ms after some (a trailing "s", a falling
# "goodbye"); with 160 ms looked back, 6 % of the spoken bench's turns found no sound in them
# and ended where the VAD let go, 150-160 ms late. With 500 ms every turn ended within 10 ms of
# its true end.
END_LOOKBACK_FRAMES = 25
FRAME_MS = 20


class UtteranceDetector:
    """Turns VAD probabilities of 20 ms frames into utterances, with their timing.

    Gates (from :class:`~media.engine.config.EngineConfig`): outside an utterance a frame is
    speech at `vad_start_threshold`, and `speech_onset_ms` of consecutive speech start an
    utterance (its pre-roll, up to `preroll_ms` of the frames before, is handed to the STT);
    inside, a frame is speech at `vad_stop_threshold`, and `end_of_turn_silence_ms` of
    consecutive silence end it. The counters (`speech_ms`, `silence_ms`, `quiet_ms`) and
    times (`speech_run_at`, `last_speech_at`, `speech_end_at`, in the caller's clock: the
    arrival time given with each frame) are read by the owner for its own gates (barge-in,
    speculation) and latencies.

    Threading: not thread-safe; the owner steps it on its event loop, one frame at a time,
    in arrival order.
    """

    __slots__ = (
        "config",
        "in_utterance",
        "speech_ms",
        "silence_ms",
        "quiet_ms",
        "speech_run_at",
        "last_speech_at",
        "speech_end_at",
        "_preroll",
        "_recent",
    )

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.in_utterance = False
        self.speech_ms = 0  # consecutive speech, in or out of utterances
        self.silence_ms = 0  # consecutive silence inside the utterance
        self.quiet_ms = 0  # consecutive frames not counted as speech, in or out of utterances
        self.speech_run_at = 0.0  # arrival of the first frame of the current run of speech
        self.last_speech_at = 0.0  # arrival of the utterance's last speech frame
        self.speech_end_at = 0.0  # when the caller's sound stopped, at the start of a pause
        self._preroll: deque[bytes] = deque(maxlen=max(1, config.preroll_ms // FRAME_MS))
        self._recent: deque[bytes] = deque(maxlen=END_LOOKBACK_FRAMES)

    def step(self, frame: bytes, probability: float, at: float) -> int:
        """Account one frame (`probability` from the VAD, `at` its arrival time); returns
        QUIET, ONSET, SPEECH, PAUSE or END."""
        cfg = self.config
        if not self.in_utterance:
            self._preroll.append(frame)
            if probability >= cfg.vad_start_threshold:
                if not self.speech_ms:
                    self.speech_run_at = at
                self.speech_ms += FRAME_MS
                self.quiet_ms = 0
                if self.speech_ms >= cfg.speech_onset_ms:
                    self.in_utterance = True
                    self.silence_ms = 0
                    self.last_speech_at = at
                    return ONSET
            else:
                self.speech_ms = 0
                self.quiet_ms += FRAME_MS
            return QUIET
        self._recent.append(frame)
        if probability >= cfg.vad_stop_threshold:
            if not self.speech_ms:
                self.speech_run_at = at
            self.speech_ms += FRAME_MS
            self.silence_ms = 0
            self.quiet_ms = 0
            self.last_speech_at = at
            return SPEECH
        if self.silence_ms == 0:
            self.speech_end_at = self._sound_end()
        self.silence_ms += FRAME_MS
        self.quiet_ms += FRAME_MS
        self.speech_ms = 0
        if self.silence_ms >= cfg.end_of_turn_silence_ms:
            self.end()
            return END
        return PAUSE

    def take_preroll(self) -> list[bytes]:
        """The frames before the onset, the onset frame last; call it at ONSET."""
        frames = list(self._preroll)
        self._preroll.clear()
        return frames

    def end(self) -> None:
        """End the utterance now (its silence was long enough, or the audio stops)."""
        self.in_utterance = False
        self.speech_ms = 0
        self.silence_ms = 0

    def _sound_end(self) -> float:
        """When the caller's sound stopped: the VAD holds on to speech for a few frames after
        it (Silero: 20-80 ms), so the last frames are looked at for the end of the sound
        itself, as the caller's own clock would place it; the VAD's last speech frame when
        they say nothing clearer. Called on the first frame of silence (not looked at)."""
        frames = list(self._recent)[:-1]  # up to the last speech frame
        ended_ms_before = sound_end_ms_before(frames) if frames else None
        if ended_ms_before is None:
            return self.last_speech_at
        return self.last_speech_at - ended_ms_before / 1000
