"""One small base class per provider kind.

A provider instance belongs to one session. Heavy read-only assets (models, voices) are
loaded once per process by the implementation and shared; `check()` is a cheap classmethod
the readiness endpoint calls without building a session.

Threading: every method is called on the session's event loop. Providers that block (decode,
synthesis, vendor SDKs) run that work through the session's :class:`SessionWorkers`, and
deliver asynchronous results (STT transcripts) on the loop through the same bridge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from media.engine.snapshot import AgentSnapshot, ToolSpec, VoiceSpec
from media.engine.threads import SessionWorkers


class ProviderError(Exception):
    """A provider failed during a turn (the session apologises and goes on)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ProviderStartError(ProviderError):
    """A provider cannot start (missing package, model or credential): the session cannot."""


class MissingDependencyError(ProviderStartError):
    def __init__(self, package: str, provider: str) -> None:
        super().__init__(f"{provider} needs the Python package {package!r}: pip install {package}")


class MissingCredentialError(ProviderStartError):
    def __init__(self, env_var: str, provider: str) -> None:
        super().__init__(f"{provider} is selected but {env_var} is not set")
        self.env_var = env_var


@dataclass(frozen=True, slots=True)
class ProviderCheck:
    """Readiness of one configured provider."""

    ok: bool
    backend: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "backend": self.backend, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider learns about its session when it starts."""

    session_id: str
    workers: SessionWorkers
    output_sample_rate_hz: int = 16000


class Provider:
    kind: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.context: ProviderContext | None = None

    @property
    def backend(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        """Cheap readiness probe (no network call, no model load)."""
        return ProviderCheck(True, f"{cls.__module__}.{cls.__qualname__}")

    @classmethod
    def preload(cls, **options: Any) -> None:
        """Load shared process-wide assets (blocking; call from a worker or at start-up)."""

    async def start(self, context: ProviderContext) -> None:
        """Prepare for a session; raise :class:`ProviderStartError` when impossible."""
        self.context = context

    def cancel(self) -> None:
        """Stop the work in flight for the current turn (barge-in). Never raises."""

    async def close(self) -> None:
        """Release per-session resources."""

    @property
    def session_id(self) -> str:
        return self.context.session_id if self.context else "-"


# --- STT ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SttResult:
    """A transcript. `speculative` marks an answer to :meth:`STT.peek_final`: the definitive
    one when `is_final`, else a quick first-pass answer that the definitive one follows."""

    text: str
    is_final: bool
    speculative: bool = False


class STT(Provider):
    """Streaming speech to text on 16 kHz PCM16 frames.

    Utterance mode (default): the session calls :meth:`begin_utterance` at VAD onset (with the
    pre-roll), :meth:`push` for each frame of the utterance and :meth:`end_utterance` when the
    VAD saw enough silence; the provider then delivers one final.
    Continuous mode (`continuous = True`, e.g. a cloud recognizer with its own endpointing):
    every frame is pushed and finals come whenever the recognizer decides.
    Results go to the listener set by the session, always called on the event loop.

    Speculative end of turn (utterance mode): after a short silence the session calls
    :meth:`peek_final` and answers the transcript speculatively; when the silence becomes the
    end of the turn it calls :meth:`commit_utterance`, and when the caller speaks again first,
    :meth:`resume_utterance`, after which the utterance goes on as if no peek had happened.
    Every peek is answered by exactly one final result with `speculative=True`, in order with
    the provider's other results, optionally preceded by non-final speculative ones (a cheap
    first pass the session may start preparing an answer from).
    """

    kind = "stt"
    sample_rate_hz: int = 16000
    continuous: bool = False
    #: True when :meth:`peek_final` closes the recognizer's utterance (the default): the session
    #: then pushes no frame until it resumes or commits, and keeps the utterance's audio to
    #: hand to :meth:`resume_utterance`. A provider that can answer mid-utterance sets False.
    peek_ends_utterance: bool = True
    #: How long the session waits for a final at most (ms); None: the engine's
    #: `stt_final_timeout_ms`, the limit for a service that may never answer. A recognizer in
    #: this process that always answers (a final or an error) sets more, so that a decode
    #: queued behind others under load is not given up on and the caller's words lost.
    final_timeout_ms: int | None = None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._listener: Callable[[SttResult], None] | None = None
        self._error_listener: Callable[[str], None] | None = None
        self._peeks_pending = 0  # finals that answer a default peek_final()

    def set_listener(
        self,
        listener: Callable[[SttResult], None],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._listener = listener
        self._error_listener = on_error

    def _deliver(self, result: SttResult) -> None:
        """Hand a result to the session (call on the loop)."""
        if result.is_final and self._peeks_pending and not result.speculative:
            self._peeks_pending -= 1
            result = SttResult(result.text, True, speculative=True)
        if self._listener is not None:
            self._listener(result)

    def _report_error(self, message: str) -> None:
        """Tell the session the recognizer failed (call on the loop); it reports and goes on."""
        if self._error_listener is not None:
            self._error_listener(message)

    def set_phrases(self, phrases: Sequence[str]) -> None:
        """Names this conversation may hear (the bank's customers), set before :meth:`start`: a
        recognizer that can be biased towards them uses them. Default: ignored."""

    def begin_utterance(self, preroll: bytes) -> None:
        raise NotImplementedError

    def push(self, frame: bytes) -> None:
        raise NotImplementedError

    def end_utterance(self) -> None:
        raise NotImplementedError

    def peek_final(self) -> None:
        """Deliver the final the open utterance would get if the caller had stopped, as one
        `SttResult(text, True, speculative=True)`, without committing to it.

        Default (works for every utterance-mode provider): end the utterance; its final is the
        answer, and :meth:`resume_utterance` starts it again with the audio heard so far.
        """
        self._peeks_pending += 1
        self.end_utterance()

    def resume_utterance(self, audio: bytes) -> None:
        """The caller spoke again after :meth:`peek_final`: continue the same utterance.

        `audio` is the whole utterance so far (pre-roll and every frame since, including the
        one that resumed it) when `peek_ends_utterance`, else empty.
        """
        self.begin_utterance(audio)

    def commit_utterance(self) -> None:
        """The caller is done: the peek's answer (delivered or still to come) is the final.

        Close the utterance; nothing more is delivered for it. Default: nothing to do, the
        peek already ended it.
        """


# --- TTS ------------------------------------------------------------------------------------


class TTS(Provider):
    """Text to PCM16 mono audio at `sample_rate_hz`, streamed in chunks."""

    kind = "tts"
    sample_rate_hz: int = 16000

    def synthesize(self, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
        raise NotImplementedError


# --- LLM ------------------------------------------------------------------------------------


@dataclass(slots=True)
class LLMRequest:
    """One LLM call: the active agent, OpenAI-style messages (system first) and its tools."""

    session_id: str
    agent: AgentSnapshot
    messages: list[dict[str, Any]]
    tools: tuple[ToolSpec, ...] = ()
    handoff_context: Mapping[str, Any] | None = None
    tool_state: Mapping[str, Any] = field(default_factory=dict)
    # False once the turn's audio has started: a retry would repeat what the caller heard.
    can_retry: Callable[[], bool] = lambda: True


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    call_id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0


LLMEvent = TextDelta | ToolCallRequest | Usage


class LLM(Provider):
    """Streams text deltas and complete tool calls for one request."""

    kind = "llm"

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        raise NotImplementedError


# --- VAD ------------------------------------------------------------------------------------


class VAD(Provider):
    """Speech probability of each 20 ms 16 kHz PCM16 frame. Called on the loop: must be cheap."""

    kind = "vad"

    def speech_probability(self, frame: bytes) -> float:
        raise NotImplementedError

    def feed(self, frame: bytes, on_probability: Callable[[float], None]) -> None:
        """Give the frame's probability to `on_probability`, now or later on the loop.

        Probabilities arrive in frame order. By default at once from :meth:`speech_probability`;
        a batched VAD answers after a model run shared with other sessions.
        """
        on_probability(self.speech_probability(frame))

    def reset(self) -> None:
        """Forget the stream's state."""
