"""Realtime event protocol: the two event-name dialects and the `session.update` shapes.

Azure OpenAI realtime GA and the OpenAI realtime API speak the *GA* dialect
(`response.output_audio.delta`, nested `session.audio`); Azure Voice Live and the Azure OpenAI
preview speak the *preview* dialect (`response.audio.delta`, a flat session). Server events are
normalised to the preview names so that one dispatcher serves both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from media.engine.snapshot import AgentSnapshot, ToolSpec


class Dialect(StrEnum):
    GA = "ga"
    PREVIEW = "preview"


# GA server event name -> the preview name used internally.
_GA_TO_PREVIEW = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
_PREVIEW_TO_GA = {v: k for k, v in _GA_TO_PREVIEW.items()}


def normalize_event_type(event_type: str) -> str:
    """The preview-dialect name of a server event of either dialect."""
    return _GA_TO_PREVIEW.get(event_type, event_type)


def event_type_for(dialect: Dialect, preview_name: str) -> str:
    """The name a server of `dialect` uses for the preview-named event."""
    if dialect is Dialect.GA:
        return _PREVIEW_TO_GA.get(preview_name, preview_name)
    return preview_name


def dialect_for_path(path: str) -> Dialect | None:
    """The dialect served at a URL path (`/openai/v1/realtime` is GA), None if not realtime."""
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/openai/v1/realtime") or path == "/v1/realtime":
        return Dialect.GA
    if path.endswith("/openai/realtime") or path.endswith("/voice-live/realtime"):
        return Dialect.PREVIEW
    return None


# OpenAI's own voices; any other name is an Azure neural voice (Voice Live only).
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)
DEFAULT_OPENAI_VOICE = "alloy"
REALTIME_SAMPLE_RATE_HZ = 24000


def realtime_tool(tool: ToolSpec) -> dict[str, Any]:
    """A realtime `tools` entry (flat, unlike chat completions)."""
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.parameters),
    }


def default_turn_detection(silence_ms: int) -> dict[str, Any]:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }


OPENAI_TURN_DETECTION = frozenset({"server_vad", "semantic_vad"})
_TURN_DETECTION_KEYS = (
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
)


def openai_turn_detection(turn_detection: Mapping[str, Any]) -> dict[str, Any]:
    """Azure-only detectors (`azure_semantic_vad`, ...) as the nearest OpenAI one."""
    if turn_detection.get("type") in OPENAI_TURN_DETECTION:
        return dict(turn_detection)
    converted = {"type": "server_vad"}
    converted.update({k: turn_detection[k] for k in _TURN_DETECTION_KEYS if k in turn_detection})
    return converted


def openai_transcription(transcription: Mapping[str, Any]) -> dict[str, Any]:
    """Azure-only transcription models (`azure-speech`, `mai-*`) as OpenAI's whisper."""
    model = str(transcription.get("model") or "")
    if model.startswith(("azure", "mai")) or not model:
        converted = {"model": "whisper-1"}
        if transcription.get("language"):
            converted["language"] = str(transcription["language"]).split("-")[0]
        return converted
    return dict(transcription)


def _voice(agent: AgentSnapshot, *, azure_voices: bool) -> str | dict[str, Any]:
    configured = agent.realtime.get("voice") if agent.realtime else None
    if configured:
        return dict(configured) if isinstance(configured, Mapping) else str(configured)
    name = agent.voice.name
    if name and name.lower() in OPENAI_VOICES:
        return name.lower()
    if name and azure_voices:
        voice: dict[str, Any] = {"name": name, "type": "azure-standard"}
        if agent.voice.rate:
            # Azure rates are SSML percentages ("+10%"); Voice Live wants a multiplier string.
            match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)%", agent.voice.rate.strip())
            if match:
                voice["rate"] = f"{1 + float(match.group(1)) / 100:.2f}"
        return voice
    return DEFAULT_OPENAI_VOICE


def session_config(
    agent: AgentSnapshot,
    *,
    dialect: Dialect,
    azure_voices: bool,
    input_sample_rate_hz: int,
    silence_ms: int,
    transcription_model: str = "whisper-1",
    instructions_suffix: str = "",
) -> dict[str, Any]:
    """The `session` object of a `session.update` for `agent` in `dialect`."""
    realtime = dict(agent.realtime or {})
    instructions = agent.instructions or f"You are {agent.name}. {agent.description}".strip()
    if instructions_suffix:
        instructions = f"{instructions}\n\n{instructions_suffix}"
    turn_detection = dict(realtime.get("turn_detection") or default_turn_detection(silence_ms))
    transcription = dict(
        realtime.get("input_audio_transcription") or {"model": transcription_model}
    )
    if not azure_voices:  # Azure OpenAI / OpenAI: no Azure speech features
        turn_detection = openai_turn_detection(turn_detection)
        transcription = openai_transcription(transcription)
    tools = [realtime_tool(t) for t in agent.tools]
    voice = _voice(agent, azure_voices=azure_voices)
    if dialect is Dialect.GA:
        if isinstance(voice, dict):
            voice = DEFAULT_OPENAI_VOICE
        audio_format = {"type": "audio/pcm", "rate": REALTIME_SAMPLE_RATE_HZ}
        session: dict[str, Any] = {
            "type": "realtime",
            "instructions": instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": audio_format,
                    "transcription": transcription,
                    "turn_detection": dict(turn_detection),
                },
                "output": {"format": dict(audio_format), "voice": voice},
            },
            "tools": tools,
            "tool_choice": "auto",
        }
        if agent.model.deployment:
            session["model"] = agent.model.deployment
        return session
    session = {
        "modalities": ["text", "audio"],
        "instructions": instructions,
        "voice": voice,
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": transcription,
        "turn_detection": dict(turn_detection),
        "tools": tools,
        "tool_choice": "auto",
        "temperature": max(0.6, agent.model.temperature),
    }
    if azure_voices:
        # Voice Live takes 16 kHz input natively (the default is 24 kHz).
        session["input_audio_sampling_rate"] = input_sample_rate_hz
    return session


def text_content_type(dialect: Dialect, role: str) -> str:
    """Content part type of a text message item (GA renamed the assistant's)."""
    if role == "user" or role == "system":
        return "input_text"
    return "output_text" if dialect is Dialect.GA else "text"


def message_item(dialect: Dialect, role: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": role,
        "content": [{"type": text_content_type(dialect, role), "text": text}],
    }
