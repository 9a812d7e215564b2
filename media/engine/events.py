"""Events a conversation session emits to its transport.

Every event carries the `turn_id` it belongs to; a transport drops nothing itself, the engine
guarantees that no `AudioFrame` of a cancelled turn is emitted after its `BargeIn` (nor after
an `AudioPause`, unless playback resumes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    session_id: str
    turn_id: int


@dataclass(slots=True)
class UserTranscript(Event):
    """Caller speech as text; `is_final` is False for partials.

    `source` is "voice", "text" or "dtmf".
    """

    text: str
    is_final: bool
    source: str = "voice"


@dataclass(slots=True)
class AssistantDelta(Event):
    """A piece of the agent's answer as the LLM streams it."""

    agent: str
    text: str


@dataclass(slots=True)
class AssistantFinal(Event):
    """The agent's whole answer for this turn (or greeting), as spoken.

    `interrupted` is True when barge-in cut it; `text` is then what was actually played.
    """

    agent: str
    text: str
    interrupted: bool = False
    is_greeting: bool = False


@dataclass(slots=True)
class AudioFrame(Event):
    """One 20 ms frame of PCM16 mono audio at `sample_rate_hz`, ready for the wire."""

    pcm: bytes
    sample_rate_hz: int
    index: int = 0
    is_last: bool = False


@dataclass(slots=True)
class BargeIn(Event):
    """Stop playback now: the caller started speaking over the agent (or a stop was asked for).

    `turn_id` is the cancelled turn. `reaction_ms` is VAD onset decision → this event.
    """

    reason: str = "barge_in"
    reaction_ms: float = 0.0


@dataclass(slots=True)
class AudioPause(Event):
    """Stop playback now, provisionally: the caller may be starting to talk over the agent.

    `turn_id` is the turn whose audio stops. Either a `BargeIn` of that turn follows (the
    caller kept talking) or its `AudioFrame`s go on from where the listener stopped hearing
    (a cough, a click: the answer resumes). `reaction_ms` is VAD onset decision → this event.
    """

    reason: str = "speech_onset"
    reaction_ms: float = 0.0


@dataclass(slots=True)
class ToolStart(Event):
    agent: str
    call_id: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolEnd(Event):
    agent: str
    call_id: str
    tool: str
    status: str  # "success" | "error" | "cancelled"
    result: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0


@dataclass(slots=True)
class AgentChange(Event):
    previous_agent: str
    agent: str
    silent: bool = False
    reason: str = ""


@dataclass(slots=True)
class CallEnd(Event):
    """The agent ended the conversation (its `end_call` tool) and its farewell has been heard.

    `turn_id` is the turn that said the farewell; it comes after that turn's `AssistantFinal`
    and `TurnMetrics`. The transport hangs up (ACS) or closes its socket (browser). Never
    emitted when the caller spoke over the farewell: the conversation then goes on.
    """

    reason: str = ""
    farewell: str = ""  # what the agent said last


@dataclass(slots=True)
class TurnMetrics(Event):
    """Latencies of one completed (or interrupted) turn, milliseconds; None when not measured."""

    agent: str
    user_text: str = ""
    assistant_text: str = ""
    interrupted: bool = False
    stt_final_ms: float | None = None  # end of speech -> STT final
    llm_ttft_ms: float | None = None
    llm_total_ms: float | None = None
    tts_ttfb_ms: float | None = None
    # end of speech (or text arrival) -> first audio frame emitted
    first_audio_ms: float | None = None
    # the caller's first frame of speech (as the VAD scored it) -> the first stop sent (the
    # pause); for typed text, DTMF or a stop button: the request -> the stop
    barge_in_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{name, duration_ms, status}]


@dataclass(slots=True)
class SessionError(Event):
    """A provider or tool failure the session survived (or, if `fatal`, did not)."""

    stage: str  # "stt" | "llm" | "tts" | "tool" | "session"
    message: str
    fatal: bool = False
