"""PCM16 helpers for the engine: 20 ms framing and resampling with soxr.

All audio inside the engine is signed 16-bit little-endian mono. Input is framed at 16 kHz
(640-byte frames); output is framed at the transport rate (640 bytes at 16 kHz, 960 at 24 kHz).
"""

from __future__ import annotations

import numpy as np
import soxr

FRAME_MS = 20
STT_SAMPLE_RATE_HZ = 16000


def frame_bytes(sample_rate_hz: int, frame_ms: int = FRAME_MS) -> int:
    """Bytes in one PCM16 mono frame of `frame_ms` at `sample_rate_hz`."""
    return sample_rate_hz * frame_ms // 1000 * 2


def duration_ms(pcm_bytes: int, sample_rate_hz: int) -> float:
    return pcm_bytes / 2 / sample_rate_hz * 1000.0


def resample(pcm: bytes, in_rate_hz: int, out_rate_hz: int) -> bytes:
    """Resample one self-contained PCM16 piece (e.g. a synthesized sentence) with soxr."""
    if in_rate_hz == out_rate_hz or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype=np.int16)
    return soxr.resample(samples, in_rate_hz, out_rate_hz, quality="HQ").tobytes()


class StreamResampler:
    """Streaming PCM16 resampler (soxr keeps filter state across chunks of one stream)."""

    __slots__ = ("in_rate_hz", "out_rate_hz", "_stream")

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self._stream = soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="int16", quality="HQ")

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        samples = np.frombuffer(pcm, dtype=np.int16)
        return self._stream.resample_chunk(samples, last=last).tobytes()


class FrameSplitter:
    """Cuts a byte stream of any chunk size into fixed-size frames.

    Keeps at most one partial frame between calls; whole frames are returned as `bytes`.
    """

    __slots__ = ("frame_size", "_pending")

    def __init__(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self._pending = b""

    def push(self, data: bytes) -> list[bytes]:
        size = self.frame_size
        if self._pending:
            data = self._pending + data
        n = len(data)
        if n < size:
            self._pending = data
            return []
        end = n - n % size
        if end == size:
            frames = [data[:size]] if n > size else [bytes(data)]
        else:
            mv = memoryview(data)
            frames = [bytes(mv[i : i + size]) for i in range(0, end, size)]
        self._pending = data[end:]
        return frames

    def flush(self, pad: bool = True) -> bytes | None:
        """The partial frame left over, zero-padded to a whole frame (or None)."""
        if not self._pending:
            return None
        rest, self._pending = self._pending, b""
        return rest + b"\x00" * (self.frame_size - len(rest)) if pad else rest

    def clear(self) -> None:
        self._pending = b""


def rms_dbfs(frame: bytes) -> float:
    """Level of a PCM16 frame in dBFS (-120 for digital silence)."""
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    if samples.size == 0:
        return -120.0
    power = float(np.dot(samples, samples)) / samples.size
    if power <= 0.0:
        return -120.0
    return 10.0 * float(np.log10(power / (32768.0 * 32768.0)))


def tone(
    duration_ms_: float, sample_rate_hz: int, freq_hz: float = 440.0, level: float = 0.3
) -> bytes:
    """A sine tone as PCM16 (fake TTS output and test speech)."""
    n = int(sample_rate_hz * duration_ms_ / 1000)
    t = np.arange(n, dtype=np.float32) / sample_rate_hz
    return (np.sin(2 * np.pi * freq_hz * t) * level * 32767).astype(np.int16).tobytes()


def silence(duration_ms_: float, sample_rate_hz: int) -> bytes:
    return b"\x00\x00" * int(sample_rate_hz * duration_ms_ / 1000)


class InputFramer:
    """Caller audio of any rate and chunk size as 20 ms PCM16 frames at the STT/VAD rate."""

    __slots__ = ("_splitter", "_resampler")

    def __init__(self) -> None:
        self._splitter = FrameSplitter(frame_bytes(STT_SAMPLE_RATE_HZ))
        self._resampler: StreamResampler | None = None

    def push(self, pcm16: bytes, sample_rate_hz: int) -> list[bytes]:
        if sample_rate_hz != STT_SAMPLE_RATE_HZ:
            if self._resampler is None or self._resampler.in_rate_hz != sample_rate_hz:
                self._resampler = StreamResampler(sample_rate_hz, STT_SAMPLE_RATE_HZ)
            pcm16 = self._resampler.process(pcm16)
        return self._splitter.push(pcm16)


# The end of a sound is the end of its last 10 ms window above both -40 dBFS and 35 dB under
# the loudest window looked at (the way a caller's own recording would place it).
_END_WINDOW_SAMPLES = 160
_END_FLOOR_RMS = 32768 * 10 ** (-40 / 20)
_END_BELOW_PEAK = 10 ** (-35 / 20)


def sound_end_ms_before(frames: list[bytes]) -> float | None:
    """How long before the end of the last of `frames` (consecutive PCM16 16 kHz) the sound
    stopped: 0 when it lasts to the end, None when no window in them is loud enough."""
    samples = np.frombuffer(b"".join(frames), dtype=np.int16)
    windows = samples.size // _END_WINDOW_SAMPLES
    if not windows:
        return None
    tail = samples[samples.size - windows * _END_WINDOW_SAMPLES :].astype(np.float32)
    rms = np.sqrt(np.mean(tail.reshape(windows, _END_WINDOW_SAMPLES) ** 2, axis=1))
    loud = np.flatnonzero(rms >= max(_END_FLOOR_RMS, float(rms.max()) * _END_BELOW_PEAK))
    if not loud.size:
        return None
    return (windows - 1 - int(loud[-1])) * _END_WINDOW_SAMPLES * 1000 / STT_SAMPLE_RATE_HZ
