"""The caller's utterances from VAD probabilities: onset, pauses, end of turn."""

from __future__ import annotations

import pytest

from media.engine.audio import silence, tone
from media.engine.config import EngineConfig
from media.engine.utterance import END, ONSET, PAUSE, QUIET, SPEECH, UtteranceDetector

CONFIG = EngineConfig()
FRAME_S = 0.02


def feed(detector: UtteranceDetector, probabilities: list[float], start_at: float = 0.0):
    """Steps one distinct frame per probability; returns the steps and the frames."""
    frames = [bytes([i % 256]) * 640 for i in range(len(probabilities))]
    steps = [
        detector.step(frame, p, start_at + i * FRAME_S)
        for i, (frame, p) in enumerate(zip(frames, probabilities, strict=True))
    ]
    return steps, frames


def test_an_utterance_starts_after_the_onset_gate_with_the_frames_before_it():
    detector = UtteranceDetector(CONFIG)
    onset_frames = CONFIG.speech_onset_ms // 20
    steps, frames = feed(detector, [0.0] * 5 + [0.9] * onset_frames)
    assert steps == [QUIET] * (5 + onset_frames - 1) + [ONSET]
    assert detector.in_utterance
    assert detector.take_preroll() == frames  # 300 ms of pre-roll holds all 8 frames
    assert detector.take_preroll() == []


def test_a_click_shorter_than_the_onset_gate_starts_nothing():
    detector = UtteranceDetector(CONFIG)
    steps, _ = feed(detector, [0.9, 0.9, 0.0, 0.9, 0.9, 0.0])
    assert set(steps) == {QUIET}
    assert not detector.in_utterance
    assert detector.quiet_ms == 20


def test_silence_ends_the_utterance_only_at_the_end_of_turn_and_speech_in_between_resumes_it():
    detector = UtteranceDetector(CONFIG)
    feed(detector, [0.9] * 3)
    short_pause = CONFIG.end_of_turn_silence_ms // 20 - 1
    steps, _ = feed(detector, [0.0] * short_pause + [0.4])  # above the stop threshold
    assert steps == [PAUSE] * short_pause + [SPEECH]
    end_frames = CONFIG.end_of_turn_silence_ms // 20
    steps, _ = feed(detector, [0.0] * end_frames)
    assert steps == [PAUSE] * (end_frames - 1) + [END]
    assert not detector.in_utterance
    assert (detector.speech_ms, detector.silence_ms) == (0, 0)


def test_the_speech_ends_where_the_sound_stopped_not_where_the_vad_let_go():
    detector = UtteranceDetector(CONFIG)
    loud = tone(20, 16000, 220.0, 0.5)
    for i in range(5):
        detector.step(loud, 0.9, i * FRAME_S)
    for i in range(5, 8):  # a tail the VAD still counts as speech
        detector.step(silence(20, 16000), 0.9, i * FRAME_S)
    assert detector.last_speech_at == 7 * FRAME_S
    detector.step(silence(20, 16000), 0.0, 8 * FRAME_S)
    assert detector.speech_end_at == pytest.approx(detector.last_speech_at - 0.06)


def test_a_long_vad_hold_still_ends_the_speech_where_the_sound_stopped():
    """Silero can count 160 ms and more of silence after a word as speech."""
    detector = UtteranceDetector(CONFIG)
    loud = tone(20, 16000, 220.0, 0.5)
    for i in range(5):
        detector.step(loud, 0.9, i * FRAME_S)
    for i in range(5, 17):  # 240 ms the VAD still counts as speech
        detector.step(silence(20, 16000), 0.9, i * FRAME_S)
    detector.step(silence(20, 16000), 0.0, 17 * FRAME_S)
    assert detector.speech_end_at == pytest.approx(4 * FRAME_S)  # the end of the last loud frame
