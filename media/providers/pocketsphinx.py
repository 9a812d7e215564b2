"""Offline streaming recognition with pocketsphinx (bundled en-US model), in worker processes.

Pocketsphinx's decoder holds the GIL for the whole of each call (a 6 s decode in a worker thread
stopped the event loop for up to 3 s, `reference/recognition.md`), so no decoder lives in the
serving process: :class:`PocketsphinxSTT` sends the audio to a :class:`ProcessPool` of
:class:`PocketsphinxWorker` processes and gets partials and finals back on the session's loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.engine.procpool import Answers, ProcessPool, Utterance, WorkerBackend, WorkerPoolError
from media.providers.base import (
    STT,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderStartError,
    SttResult,
)

logger = logging.getLogger(__name__)

FRAME_BYTES = 640  # 20 ms of 16 kHz PCM16


@dataclass(slots=True)
class _OpenUtterance:
    decoder: Any
    partial_every_frames: int
    frames: int = 0
    last_partial: str = ""


def _text(decoder: Any) -> str:
    hyp = decoder.hyp()
    return hyp.hypstr if hyp else ""


class PocketsphinxWorker(WorkerBackend):
    """Runs in a worker process: one decoder per utterance it serves, idle ones reused.

    Loading the en-US model takes about half a second and 100 MB per decoder, so decoders are
    not thrown away: a finished utterance's decoder serves the next one, reset to the model's
    initial cepstral mean so no caller leaks into the next one's recognition.
    """

    def __init__(self, **config: str) -> None:
        super().__init__(**config)
        self._idle: list[Any] = []
        self._open: dict[int, _OpenUtterance] = {}
        self._initial_cmn = ""

    def load(self) -> None:
        self._idle.append(self._create())

    def _create(self) -> Any:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise MissingDependencyError("pocketsphinx", "PocketsphinxSTT") from exc
        decoder = Decoder(loglevel="FATAL", **self.options)
        self._initial_cmn = decoder.get_cmn()
        return decoder

    def begin(self, key: int, payload: tuple[int, bytes]) -> Answers:
        partial_every_frames, preroll = payload
        if self._idle:
            decoder = self._idle.pop()
            decoder.set_cmn(self._initial_cmn)
        else:
            decoder = self._create()
        decoder.start_utt()
        self._open[key] = _OpenUtterance(decoder, partial_every_frames)
        return self.audio(key, preroll) if preroll else []

    def audio(self, key: int, payload: bytes) -> Answers:
        utterance = self._open.get(key)
        if utterance is None:
            return []
        utterance.decoder.process_raw(payload, False, False)
        utterance.frames += max(1, len(payload) // FRAME_BYTES)
        if utterance.frames < utterance.partial_every_frames:
            return []
        utterance.frames = 0
        text = _text(utterance.decoder)
        if not text or text == utterance.last_partial:
            return []
        utterance.last_partial = text
        return [("partial", text)]

    def peek(self, key: int, payload: Any) -> Answers:
        utterance = self._open.get(key)
        if utterance is None:
            return [("final", "")]
        first_pass = _text(utterance.decoder)
        return [("first_pass", first_pass), ("final", self._finish(key))]

    def end(self, key: int, payload: Any) -> Answers:
        return [("final", self._finish(key) if key in self._open else "")]

    def abort(self, key: int, payload: Any) -> Answers:
        if key in self._open:
            self._finish(key)
        return []

    def discard(self, key: int) -> None:
        self._open.pop(key, None)  # its decoder failed mid-call: not reused

    def _finish(self, key: int) -> str:
        decoder = self._open.pop(key).decoder
        decoder.end_utt()
        text = _text(decoder)
        self._idle.append(decoder)
        return text


class PocketsphinxSTT(STT):
    """Streaming pocketsphinx recognition (bundled en-US model), with partials.

    Decoding runs in worker processes (:class:`ProcessPool`, started once per server process):
    each utterance is opened on one worker, its audio sent there in 100 ms chunks, and the
    worker's partials and final come back on the loop through the session's bridge. Every
    method runs on the loop and only queues messages. A worker that dies ends its open
    utterances with an empty final (the turn ends with no text; the session goes on).

    Options: `hmm`, `lm`, `dict` (model paths; default: the wheel's en-US model),
    `partial_interval_ms` (how often a partial is computed, default 200), `processes` (worker
    processes; default `ENGINE_WORKER_PROCESSES` or the number of CPUs).

    Speculative end of turn: a peek answers twice. First `hyp()` mid-utterance, the cheap
    first-pass hypothesis (non-final), so the session starts preparing the answer at once;
    then the real final (`end_utt`, whose fwdflat and bestpath passes take 100-200 ms on
    an idle machine), which the session keeps only if it agrees. The first pass alone would
    not do: it differed from the final on 4 of the benchmark's 10 sentences, mostly for the
    worse ("out can i help you to date" for "how can i help you today"). The peek ends the
    utterance (the base class's way): a caller who resumes costs one re-decode of the
    utterance so far, in a worker.
    """

    worker_backend = f"{__name__}.PocketsphinxWorker"

    def __init__(
        self, partial_interval_ms: int = 200, processes: int | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self._decoder_config = {k: str(v) for k, v in options.items() if k in ("hmm", "lm", "dict")}
        self._partial_every = max(1, partial_interval_ms // 20)
        self._processes = processes
        self._utterance: Utterance | None = None  # open: between begin and end or peek
        self._previous: Utterance | None = None
        self._closed = False

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
        """Start the worker processes and wait until each has loaded the model."""
        cls(**options).pool().wait_ready()

    def pool(self) -> ProcessPool:
        return ProcessPool.get(self.worker_backend, self._decoder_config, self._processes)

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        try:
            await context.workers.run(self.pool().wait_ready)
        except WorkerPoolError as exc:
            raise ProviderStartError(f"pocketsphinx workers could not start: {exc}") from exc

    def begin_utterance(self, preroll: bytes) -> None:
        if self._closed or self.context is None:
            return
        if self._utterance is not None:  # a stray open utterance: drop it silently
            self._utterance.abort()
            self._utterance = None
        try:
            self._utterance = self._previous = self.pool().open(
                session_id=self.session_id,
                bridge=self.context.workers.bridge,
                on_answer=self._on_answer,
                begin=(self._partial_every, preroll),
                after=self._previous,
            )
        except WorkerPoolError as exc:  # end_utterance then answers with an empty final
            logger.error("session %s: pocketsphinx unavailable: %s", self.session_id, exc)

    def push(self, frame: bytes) -> None:
        if self._utterance is not None:
            self._utterance.audio(frame)

    def end_utterance(self) -> None:
        self._finish(peek=False)

    def peek_final(self) -> None:
        self._peeks_pending += 1
        self._finish(peek=True)

    def _finish(self, *, peek: bool) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            if self.context is not None and not self._closed:
                self.context.workers.post(self._deliver, SttResult("", True))
        elif peek:
            utterance.peek()
        else:
            utterance.end()

    def cancel(self) -> None:
        """Nothing to cancel: an utterance in progress is the caller's, it continues."""

    async def close(self) -> None:
        self._closed = True
        if self._utterance is not None:
            self._utterance.abort()
            self._utterance = None

    def _on_answer(self, utterance: Utterance, kind: str, text: str) -> None:
        """On the loop: a worker's answer for one of this session's utterances."""
        if kind == "final" and utterance is self._utterance:
            self._utterance = None  # its worker died mid-utterance: frames have nowhere to go
        if self._closed:
            return
        if kind == "partial":
            self._deliver(SttResult(text, False))
        elif kind == "first_pass":
            self._deliver(SttResult(text, False, speculative=True))
        elif kind == "final":
            self._deliver(SttResult(text, True))
