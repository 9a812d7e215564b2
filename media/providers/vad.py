"""Voice activity detection: Silero (onnxruntime, no torch) and WebRTC VAD.

Both run on the event loop (they are cheap: Silero about 50-200 µs per 32 ms window, WebRTC
a few µs per frame) and return a speech probability per 20 ms frame.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from media.providers.base import (
    VAD,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderStartError,
)

_WINDOW = 512  # Silero v5+ window at 16 kHz (32 ms)
_CONTEXT = 64
_FRAME = 320  # 20 ms at 16 kHz
_SCALE = np.float32(1.0 / 32768.0)


def silero_model_path() -> Path:
    """The .onnx shipped in the `silero-vad` package, found without importing it (torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("silero-vad (with --no-deps)", "SileroVAD")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


class _SileroModel:
    """One onnxruntime session per process, shared by every session's SileroVAD."""

    _session: Any = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._session is None:
                try:
                    import onnxruntime as ort
                except ImportError as exc:
                    raise MissingDependencyError("onnxruntime", "SileroVAD") from exc
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                cls._session = ort.InferenceSession(
                    str(silero_model_path()),
                    sess_options=options,
                    providers=["CPUExecutionProvider"],
                )
            return cls._session


class SileroVAD(VAD):
    """Silero VAD v5+ on onnxruntime: one shared model, per-session RNN state and context.

    20 ms frames are buffered into 512-sample windows; the probability of the latest window is
    returned for every frame. Windows quieter than `min_energy_dbfs` skip the model (a caller
    on hold costs nothing) and count as silence.
    """

    def __init__(self, min_energy_dbfs: float = -60.0, **options: Any) -> None:
        super().__init__(min_energy_dbfs=min_energy_dbfs, **options)
        self._min_power = (10 ** (min_energy_dbfs / 10)) * _WINDOW
        self._model: Any = None
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input = np.zeros((1, _CONTEXT + _WINDOW), dtype=np.float32)
        self._pending = np.zeros(_WINDOW + _FRAME, dtype=np.float32)
        self._filled = 0
        self._sr = np.array(16000, dtype=np.int64)
        self._probability = 0.0
        self.windows_run = 0

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        if importlib.util.find_spec("onnxruntime") is None:
            return ProviderCheck(False, backend, "pip install onnxruntime")
        try:
            path = silero_model_path()
        except MissingDependencyError as exc:
            return ProviderCheck(False, backend, str(exc))
        if not path.exists():
            return ProviderCheck(False, backend, f"model missing: {path}")
        return ProviderCheck(True, backend, "silero onnx")

    @classmethod
    def preload(cls, **options: Any) -> None:
        _SileroModel.get()

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        try:
            self._model = _SileroModel.get()
        except ProviderStartError:
            raise
        except Exception as exc:
            raise ProviderStartError(f"the Silero model could not load: {exc}") from exc

    def speech_probability(self, frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype=np.int16)
        n = self._filled
        end = n + samples.size
        np.multiply(samples, _SCALE, out=self._pending[n:end], casting="unsafe")
        if end < _WINDOW:
            self._filled = end
            return self._probability
        window = self._pending[:_WINDOW]
        x = self._input
        if float(np.dot(window, window)) < self._min_power:
            self._probability = 0.0
        else:
            x[0, _CONTEXT:] = window
            out, self._state = self._model.run(
                None, {"input": x, "state": self._state, "sr": self._sr}
            )
            self._probability = float(out[0, 0])
            self.windows_run += 1
        x[0, :_CONTEXT] = window[-_CONTEXT:]
        rest = end - _WINDOW
        self._pending[:rest] = self._pending[_WINDOW:end]
        self._filled = rest
        return self._probability

    def reset(self) -> None:
        self._state[:] = 0
        self._input[:] = 0
        self._filled = 0
        self._probability = 0.0


class WebRtcVAD(VAD):
    """The WebRTC VAD (`webrtcvad-wheels`): very cheap, coarser than Silero.

    It flags the first 60-100 ms of a stream as speech when there is a noise floor, so the
    first `warmup_ms` of every stream count as silence. `mode` 0-3: 3 is the most aggressive.
    """

    def __init__(self, mode: int = 3, warmup_ms: int = 100, **options: Any) -> None:
        super().__init__(mode=mode, warmup_ms=warmup_ms, **options)
        self._mode = mode
        self._warmup_frames = warmup_ms // 20
        self._seen = 0
        self._vad: Any = None

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        if importlib.util.find_spec("webrtcvad") is None:
            return ProviderCheck(False, backend, "pip install webrtcvad-wheels")
        return ProviderCheck(True, backend, "webrtcvad")

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        try:
            import webrtcvad
        except ImportError as exc:
            raise MissingDependencyError("webrtcvad-wheels", "WebRtcVAD") from exc
        self._vad = webrtcvad.Vad(self._mode)

    def speech_probability(self, frame: bytes) -> float:
        self._seen += 1
        if self._seen <= self._warmup_frames:
            return 0.0
        return 1.0 if self._vad.is_speech(frame, 16000) else 0.0

    def reset(self) -> None:
        self._seen = 0
