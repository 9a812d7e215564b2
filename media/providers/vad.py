"""Voice activity detection: Silero (onnxruntime, no torch) and WebRTC VAD.

Both return a speech probability per 20 ms frame on the event loop. WebRTC costs a few µs per
frame. Silero costs about 0.26 ms per 32 ms window run alone, about 80 µs per window when the
windows of many sessions share one ONNX run, so the session path batches them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from media.engine.batching import TickBatcher
from media.providers.base import (
    VAD,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderStartError,
)

_WINDOW = 512  # Silero v5+ window at 16 kHz (32 ms)
_CONTEXT = 64
_WINDOW_BYTES = _WINDOW * 2
_CONTEXT_BYTES = _CONTEXT * 2
_SCALE = np.float32(1.0 / 32768.0)

logger = logging.getLogger(__name__)


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


class _SileroBatch:
    """Silero over many sessions in one run: rows of `input` and of `state` are sessions.

    An item is `(vad, (pcm, slot, epoch))`: `pcm` the window with its 64-sample context as
    PCM16 bytes (converted to float for the whole batch at once), `slot` the one-element list
    the probability goes into.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.sr = np.array(16000, dtype=np.int64)

    def prepare(self, batch: list) -> tuple[list, Any]:
        kept = [entry for entry in batch if entry[0]._epoch == entry[1][2]]
        if not kept:
            return kept, None
        count = len(kept)
        if count == 1:
            vad, (pcm, _, _) = kept[0]
            state = vad._state
        else:
            pcm = b"".join([item[0] for _, item in kept])
            state = np.concatenate([vad._state for vad, _ in kept], axis=1)
        x = np.frombuffer(pcm, dtype=np.int16).reshape(count, _CONTEXT + _WINDOW) * _SCALE
        return kept, (x, state)

    def compute(self, inputs: Any) -> Any:
        x, state = inputs
        return self.session.run(None, {"input": x, "state": state, "sr": self.sr})

    def finish(self, kept: list, outputs: Any) -> None:
        out, state = outputs
        probabilities = out[:, 0].tolist()
        for row, (vad, (_, slot, epoch)) in enumerate(kept):
            if vad._epoch != epoch:  # reset or closed while the batch ran
                continue
            vad._state = state[:, row : row + 1].copy()
            vad.windows_run += 1
            try:
                vad._resolve(slot, probabilities[row])
            except Exception:
                logger.exception("session %s: VAD delivery failed", vad.session_id)

    def fail(self, kept: list, exc: BaseException) -> None:
        for vad, (_, slot, epoch) in kept:
            if vad._epoch == epoch:
                vad._resolve(slot, 0.0)  # counts as silence; the state is kept


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, TickBatcher]] = (
    weakref.WeakKeyDictionary()
)


def silero_batcher(
    loop: asyncio.AbstractEventLoop,
    *,
    max_batch: int = 64,
    max_delay_ms: float = 0.0,
    in_worker: bool = False,
) -> TickBatcher:
    """The loop's Silero batcher with these settings (one per loop, shared by its sessions)."""
    by_settings = _batchers.setdefault(loop, {})
    key = (max_batch, max_delay_ms, in_worker)
    batcher = by_settings.get(key)
    if batcher is None:
        batcher = by_settings[key] = TickBatcher(
            loop,
            _SileroBatch(_SileroModel.get()),
            max_batch=max_batch,
            max_delay_ms=max_delay_ms,
            in_worker=in_worker,
        )
    return batcher


class SileroVAD(VAD):
    """Silero VAD v5+ on onnxruntime: one shared model, per-session RNN state and context.

    20 ms frames are buffered into 512-sample windows; a frame's probability is that of the
    latest complete window. Windows quieter than `min_energy_dbfs` skip the model (a caller
    on hold costs nothing) and count as silence.

    :meth:`feed` (what the session calls) batches: a window that needs the model is submitted
    to the loop's :class:`~media.engine.batching.TickBatcher`, which runs the windows of every
    session due in the same loop iteration in one ONNX call (rows of `input` and `state` are
    sessions); the frame's probability, and those of the frames after it, are delivered in
    order when the result is back. :meth:`speech_probability` runs the model at once, one
    window at a time (for callers that need a synchronous answer). A stream uses one or the
    other.

    Args:
        min_energy_dbfs: windows below this skip the model.
        batch: batch windows across sessions in :meth:`feed` (False: one run per window).
        batch_max: windows per ONNX run.
        batch_delay_ms: 0 flushes at the end of the loop iteration; more waits that long.
        batch_in_worker: run the batch in the engine's worker pool instead of on the loop.
    """

    def __init__(
        self,
        min_energy_dbfs: float = -60.0,
        batch: bool = True,
        batch_max: int = 64,
        batch_delay_ms: float = 0.0,
        batch_in_worker: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            min_energy_dbfs=min_energy_dbfs,
            batch=batch,
            batch_max=batch_max,
            batch_delay_ms=batch_delay_ms,
            batch_in_worker=batch_in_worker,
            **options,
        )
        self._min_power = (10 ** (min_energy_dbfs / 10)) * _WINDOW
        # The same floor for the sum of squares of the raw PCM16 samples (exact: 2**30 scaling).
        self._min_power_pcm = self._min_power * 32768.0 * 32768.0
        self._model: Any = None
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input = np.zeros((1, _CONTEXT + _WINDOW), dtype=np.float32)
        self._raw = bytearray()  # PCM16 not yet in a window
        self._context = bytes(_CONTEXT_BYTES)  # feed(): the last 64 samples of the last window
        self._sr = np.array(16000, dtype=np.int64)
        self._probability = 0.0
        self._batch = batch
        self._batcher: TickBatcher | None = None
        # feed(): callbacks of frames waiting for a window's result, each with the slot
        # ([probability] or [None] while pending) of the latest window at that frame.
        self._waiting: deque[tuple[Callable[[float], None], list]] = deque()
        self._slot: list = [0.0]
        self._epoch = 0  # bumped by reset/close: results of older windows are dropped
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
        if self._batch:
            self._batcher = silero_batcher(
                asyncio.get_running_loop(),
                max_batch=self.options["batch_max"],
                max_delay_ms=self.options["batch_delay_ms"],
                in_worker=self.options["batch_in_worker"],
            )

    @property
    def batcher(self) -> TickBatcher | None:
        """The loop's batcher this VAD submits to (None: unbatched, or not started)."""
        return self._batcher

    def _next_window(self) -> np.ndarray:
        """The oldest whole window as float32, taken out of the buffer."""
        raw = self._raw
        window = np.frombuffer(raw, dtype=np.int16, count=_WINDOW) * _SCALE
        del raw[:_WINDOW_BYTES]
        return window

    def speech_probability(self, frame: bytes) -> float:
        self._raw += frame
        if len(self._raw) < _WINDOW_BYTES:
            return self._probability
        window = self._next_window()
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
        return self._probability

    def feed(self, frame: bytes, on_probability: Callable[[float], None]) -> None:
        batcher = self._batcher
        if batcher is None:
            on_probability(self.speech_probability(frame))
            return
        waiting = self._waiting
        raw = self._raw
        raw += frame
        if len(raw) < _WINDOW_BYTES:  # most frames end no window
            if waiting:
                waiting.append((on_probability, self._slot))
            else:
                on_probability(self._probability)
            return
        # The window stays PCM16 here; the batch converts all its windows to float at once.
        window = bytes(raw[:_WINDOW_BYTES])
        del raw[:_WINDOW_BYTES]
        pcm = self._context + window
        self._context = window[-_CONTEXT_BYTES:]
        samples = np.frombuffer(window, dtype=np.int16).astype(np.float32)
        if float(np.dot(samples, samples)) < self._min_power_pcm:
            self._slot = [0.0]
            if waiting:
                waiting.append((on_probability, self._slot))
            else:
                self._probability = 0.0
                on_probability(0.0)
            return
        slot: list = [None]
        self._slot = slot
        waiting.append((on_probability, slot))
        batcher.submit(self, (pcm, slot, self._epoch))

    def _resolve(self, slot: list, probability: float) -> None:
        """A window's result is back: deliver every frame now known, in order."""
        slot[0] = probability
        waiting = self._waiting
        while waiting:
            on_probability, known = waiting[0]
            value = known[0]
            if value is None:
                return
            waiting.popleft()
            self._probability = value
            on_probability(value)

    def reset(self) -> None:
        self._epoch += 1
        self._waiting.clear()
        self._slot = [0.0]
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input[:] = 0
        self._context = bytes(_CONTEXT_BYTES)
        self._raw.clear()
        self._probability = 0.0

    async def close(self) -> None:
        self.reset()
        await super().close()


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
