"""First-class fake providers with scripted timing, for tests and benchmarks.

They behave like real ones at the interface (streaming, cancellation, worker threads when
asked to block) but need no model, no network and no wall-clock sleeps unless scripted.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import numpy as np

from media.engine.audio import silence, tone
from media.engine.history import last_user_text
from media.engine.snapshot import VoiceSpec
from media.providers.base import (
    LLM,
    STT,
    TTS,
    VAD,
    LLMEvent,
    LLMRequest,
    ProviderContext,
    ProviderError,
    ProviderStartError,
    SttResult,
    TextDelta,
    ToolCallRequest,
    Usage,
)

_call_ids = itertools.count(1)


class EnergyVAD(VAD):
    """Speech when the frame is louder than `threshold_dbfs` (no model; tests and benchmarks)."""

    def __init__(self, threshold_dbfs: float = -40.0, **options: Any) -> None:
        super().__init__(threshold_dbfs=threshold_dbfs, **options)
        self._threshold_power = (10 ** (threshold_dbfs / 10)) * 32768.0 * 32768.0

    def speech_probability(self, frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype=np.int16)
        if not samples.size:
            return 0.0
        # Cheaper than rms_dbfs: compare mean power without the log.
        power = float(np.dot(samples.astype(np.float32), samples)) / samples.size
        return 1.0 if power >= self._threshold_power else 0.0


FakeVAD = EnergyVAD


class ScriptedSTT(STT):
    """Answers each utterance with the next scripted transcript.

    Args:
        script: one transcript per utterance; after it runs out, `default` is used.
        partial_every_frames: emit a growing partial every N frames (0: no partials).
        final_delay_ms: delay between `end_utterance` (or `peek_final`) and its answer.
        ms_per_word: 0 (default): the whole transcript is known from the start. Otherwise one
            word is heard per `ms_per_word` of loud audio, and partials, peeks and the final
            hold only the words heard so far (an utterance spoken in two parts).
        fail_start: raise at start (to test start-up failures).
        fail_on / hang_on: an utterance whose transcript contains this substring ends in a
            recognizer error / never gets its final.

    Peeks answer mid-utterance (`peek_ends_utterance = False`): the utterance goes on after
    a resume with the words it already heard.
    """

    peek_ends_utterance = False

    def __init__(
        self,
        script: Sequence[str] = (),
        default: str = "",
        partial_every_frames: int = 10,
        final_delay_ms: float = 0.0,
        ms_per_word: float = 0.0,
        fail_start: bool = False,
        fail_on: str | None = None,
        hang_on: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self._script = list(script)
        self._default = default
        self._partial_every = partial_every_frames
        self._final_delay_s = final_delay_ms / 1000.0
        self._ms_per_word = ms_per_word
        self._fail_start = fail_start
        self._fail_on = fail_on
        self._hang_on = hang_on
        self._current: str | None = None
        self._frames = 0
        self._loud_ms = 0.0
        self.utterances = 0
        self.phrases: list[str] = []  # the hints it was given (it does not use them)
        self.peeks = 0
        self.resumes = 0

    async def start(self, context: ProviderContext) -> None:
        await super().start(context)
        if self._fail_start:
            raise ProviderStartError("scripted start failure")

    def _count_loud(self, pcm: bytes) -> None:
        if self._ms_per_word:
            for i in range(0, len(pcm) - 639, 640):
                if np.abs(np.frombuffer(pcm[i : i + 640], np.int16)).max() > 1000:
                    self._loud_ms += 20

    def _heard(self) -> str:
        text = self._current or ""
        if not self._ms_per_word:
            return text
        return " ".join(text.split()[: int(self._loud_ms // self._ms_per_word)])

    def set_phrases(self, phrases: Sequence[str]) -> None:
        self.phrases = list(phrases)

    def begin_utterance(self, preroll: bytes) -> None:
        self._current = self._script.pop(0) if self._script else self._default
        self._frames = len(preroll) // 640
        self._loud_ms = 0.0
        self._count_loud(preroll)
        self.utterances += 1

    def push(self, frame: bytes) -> None:
        if self._current is None:
            return
        self._frames += 1
        self._count_loud(frame)
        if self._partial_every and self._frames % self._partial_every == 0:
            words = self._heard().split()
            shown = min(len(words), self._frames // self._partial_every)
            if shown:
                self._deliver(SttResult(" ".join(words[:shown]), False))

    def _answer(self, result: SttResult) -> None:
        loop = asyncio.get_running_loop()
        if self._final_delay_s > 0:
            loop.call_later(self._final_delay_s, self._deliver, result)
        else:
            loop.call_soon(self._deliver, result)

    def _final(self, result: SttResult) -> None:
        if self._hang_on and self._hang_on in result.text:
            return
        if self._fail_on and self._fail_on in result.text:
            asyncio.get_running_loop().call_soon(self._report_error, "scripted recognizer failure")
            return
        self._answer(result)

    def end_utterance(self) -> None:
        text = self._heard()
        self._current = None
        self._final(SttResult(text, True))

    def peek_final(self) -> None:
        self.peeks += 1
        self._final(SttResult(self._heard(), True, speculative=True))

    def resume_utterance(self, audio: bytes) -> None:
        self.resumes += 1

    def commit_utterance(self) -> None:
        self._current = None


class FakeTTS(TTS):
    """A tone (or silence) as long as the text would take to say, in `chunk_ms` chunks.

    Args:
        ms_per_char: audio length per character of text.
        first_byte_delay_ms / chunk_delay_ms: scripted latency (asyncio sleeps).
        block_ms: synthesize in a worker thread that blocks this long (a slow vendor SDK).
        fail_on / hang_on: raise / never answer for text containing this substring.
    """

    def __init__(
        self,
        sample_rate_hz: int = 16000,
        ms_per_char: float = 40.0,
        chunk_ms: float = 200.0,
        mode: str = "tone",
        first_byte_delay_ms: float = 0.0,
        chunk_delay_ms: float = 0.0,
        block_ms: float = 0.0,
        fail_on: str | None = None,
        hang_on: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.sample_rate_hz = sample_rate_hz
        self._ms_per_char = ms_per_char
        self._chunk_ms = chunk_ms
        self._mode = mode
        self._first_delay_s = first_byte_delay_ms / 1000
        self._chunk_delay_s = chunk_delay_ms / 1000
        self._block_s = block_ms / 1000
        self._fail_on = fail_on
        self._hang_on = hang_on
        self._chunk_cache: dict[int, bytes] = {}
        self.texts: list[str] = []
        self.cancels = 0

    def _chunk(self, ms: float) -> bytes:
        key = int(ms)
        pcm = self._chunk_cache.get(key)
        if pcm is None:
            rate = self.sample_rate_hz
            pcm = silence(ms, rate) if self._mode == "silence" else tone(ms, rate, 330.0, 0.2)
            self._chunk_cache[key] = pcm
        return pcm

    def _plan(self, text: str) -> list[float]:
        total = max(self._chunk_ms / 4, len(text) * self._ms_per_char)
        chunks = []
        while total > 0:
            chunks.append(min(self._chunk_ms, total))
            total -= self._chunk_ms
        return chunks

    async def synthesize(self, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
        self.texts.append(text)
        if self._fail_on and self._fail_on in text:
            raise ProviderError("scripted TTS failure")
        if self._hang_on and self._hang_on in text:
            await asyncio.Event().wait()
        if self._block_s:
            plan = self._plan(text)

            def blocking() -> Iterable[bytes]:
                time.sleep(self._block_s)
                return [self._chunk(ms) for ms in plan]

            for pcm in await self.context.workers.run(blocking):
                yield pcm
            return
        if self._first_delay_s:
            await asyncio.sleep(self._first_delay_s)
        for i, ms in enumerate(self._plan(text)):
            if i and self._chunk_delay_s:
                await asyncio.sleep(self._chunk_delay_s)
            yield self._chunk(ms)

    def cancel(self) -> None:
        self.cancels += 1


Step = str | dict[str, Any]


class ScriptedLLM(LLM):
    """Streams scripted answers, one script entry per LLM call.

    An entry is a list of steps: a string is streamed word by word (`token_delay_ms` apart);
    `{"tool": name, "arguments": {...}}` is a tool call; `{"sleep_ms": n}` pauses;
    `{"raise": "message"}` fails; `{"hang": True}` never answers. Without an entry left the
    LLM echoes the last user message. `respond(request)` may supply entries dynamically.
    """

    def __init__(
        self,
        script: Sequence[Sequence[Step]] = (),
        token_delay_ms: float = 0.0,
        first_token_delay_ms: float = 0.0,
        respond: Callable[[LLMRequest], Sequence[Step]] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self._script = [list(entry) for entry in script]
        self._token_delay_s = token_delay_ms / 1000
        self._first_delay_s = first_token_delay_ms / 1000
        self._respond = respond
        self.requests: list[LLMRequest] = []
        self.cancels = 0
        self.finished_streams = 0

    def _entry(self, request: LLMRequest) -> list[Step]:
        if self._script:
            return self._script.pop(0)
        if self._respond is not None:
            return list(self._respond(request))
        return [f"You said: {last_user_text(request.messages)}."]

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        self.requests.append(request)
        steps = self._entry(request)
        if self._first_delay_s:
            await asyncio.sleep(self._first_delay_s)
        tokens_out = 0
        first = True
        for step in steps:
            if isinstance(step, str):
                words = step.split(" ")
                for i, word in enumerate(words):
                    if not first and self._token_delay_s:
                        await asyncio.sleep(self._token_delay_s)
                    first = False
                    tokens_out += 1
                    yield TextDelta(word if i == 0 else " " + word)
            elif "tool" in step:
                yield ToolCallRequest(
                    step.get("id") or f"call_{next(_call_ids)}",
                    step["tool"],
                    dict(step.get("arguments", {})),
                )
            elif "sleep_ms" in step:
                await asyncio.sleep(step["sleep_ms"] / 1000)
            elif "raise" in step:
                raise ProviderError(step["raise"])
            elif step.get("hang"):
                await asyncio.Event().wait()
        yield Usage(
            tokens_in=sum(len(str(m.get("content") or "")) for m in request.messages) // 4,
            tokens_out=tokens_out,
        )
        self.finished_streams += 1

    def cancel(self) -> None:
        self.cancels += 1
