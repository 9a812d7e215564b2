"""Frozen agent snapshots: everything a conversation needs about its agents, with no ORM.

`agentbuilder` builds an :class:`AgentRoster` from the database once per session (prompts
rendered with the session's variables) and hands it to the engine; the engine only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool an agent may call, as the LLM sees it.

    `parameters` is a JSON schema object. Handoff tools carry the agent they hand over to.
    An `ends_call` tool (`end_call`) is not run by the tool runner: the engine says the
    farewell and, once it has been heard, ends the conversation (`CallEnd`).
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    is_handoff: bool = False
    handoff_target: str | None = None
    silent_handoff: bool = False
    ends_call: bool = False
    tags: tuple[str, ...] = ()

    def as_openai_tool(self) -> dict[str, Any]:
        """The chat-completions `tools` entry for this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True, slots=True)
class VoiceSpec:
    """The agent's TTS voice: provider voice name, speaking style and rate (e.g. "+0%")."""

    name: str = ""
    style: str = ""
    rate: str = ""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """LLM settings of one agent."""

    deployment: str = ""
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """One agent, rendered for one session. Greeting and instructions are final text."""

    name: str
    description: str = ""
    instructions: str = ""
    greeting: str = ""
    return_greeting: str = ""
    voice: VoiceSpec = field(default_factory=VoiceSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    tools: tuple[ToolSpec, ...] = ()
    handoff_trigger: str = ""
    is_entry_point: bool = False
    # Realtime (voice_live) session settings:
    # {"turn_detection": {...}, "input_audio_transcription": {...}}
    realtime: Mapping[str, Any] = field(default_factory=dict)

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


@dataclass(frozen=True, slots=True)
class AgentRoster:
    """All agents a session may reach, and where it starts."""

    agents: Mapping[str, AgentSnapshot]
    entry_agent: str

    def __post_init__(self) -> None:
        if self.entry_agent not in self.agents:
            raise ValueError(f"entry agent {self.entry_agent!r} is not in the roster")

    def get(self, name: str) -> AgentSnapshot:
        return self.agents[name]


@dataclass(slots=True)
class ToolContext:
    """What a tool may know about the conversation calling it.

    `state` is the session's mutable tool memory (e.g. the verified client id); it is owned by
    the engine session and only touched from the worker running the tool for that session.
    """

    session_id: str
    agent_name: str
    state: dict[str, Any] = field(default_factory=dict)


class ToolRunner(Protocol):
    """Executes a (non-handoff) tool. Sync: the engine runs it in its worker pool.

    Must never raise for a bad call: it returns a result dict, with `{"success": False,
    "error": ...}` on failure. The returned dict is what the LLM sees, so it must not contain
    secrets (verification or MFA codes).
    """

    def run(
        self, name: str, arguments: Mapping[str, Any], context: ToolContext
    ) -> dict[str, Any]: ...
