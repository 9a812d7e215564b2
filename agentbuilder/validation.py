"""Rules shared by the agent models, the library loader and the API serializers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from agentbuilder.rendering import template_error

MODEL_LIMITS = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "max_tokens": (1, 16384),
}
REALTIME_KEYS = {"turn_detection", "input_audio_transcription"}
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
NAME_RULE = (
    "Use 1 to 64 letters, digits, '_' or '-', starting with a letter "
    "(no spaces or other characters), e.g. Pirate_Banker."
)
TRIGGER_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
VOICE_RATE_RE = re.compile(r"^[+-]?\d{1,3}%$")


def trigger_for(name: str) -> str:
    """The handoff tool name of an agent called `name`: `handoff_<snake_case>`."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    snake = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    return f"handoff_{snake}"


def template_errors(**templates: str) -> dict[str, str]:
    """Field -> why its Jinja does not parse."""
    errors = {}
    for field_name, source in templates.items():
        problem = template_error(source or "")
        if problem:
            errors[field_name] = f"Invalid Jinja template: {problem}"
    return errors


def tool_errors(tools: object, *, known_triggers: Iterable[str], own_trigger: str = "") -> str:
    """Why a list of tool names is not acceptable, or "" when it is.

    A name must be a registered tool or the handoff trigger of another agent.
    """
    from agentbuilder.tools.registry import registry

    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        return "Tools must be a list of tool names."
    triggers = set(known_triggers)
    registered = registry()
    problems = []
    for name in tools:
        if name in registered or name in triggers:
            if name == own_trigger:
                problems.append(f"{name} hands off to this agent itself")
            continue
        if name.startswith("handoff_"):
            problems.append(f"{name} hands off to an agent that does not exist")
        else:
            problems.append(f"{name} is not a registered tool")
    if len(set(tools)) != len(tools):
        problems.append("a tool is listed twice")
    return "; ".join(problems)


def voice_error(name: str) -> str:
    """Why `name` is not a voice of the catalogue, or "" when it is."""
    from agentbuilder.voices import voice_names

    if name in voice_names():
        return ""
    return f"Unknown voice {name!r}; GET /api/v1/agent-builder/voices lists the voices."


def realtime_errors(realtime: object) -> str:
    if not isinstance(realtime, dict):
        return "Realtime settings must be an object."
    unknown = set(realtime) - REALTIME_KEYS
    if unknown:
        return f"Unknown realtime settings: {', '.join(sorted(unknown))}."
    for key, value in realtime.items():
        if not isinstance(value, dict):
            return f"{key} must be an object."
    return ""


def check_template_vars(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Template variables must be an object of names to values.")
    for key in value:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
            raise ValidationError(f"{key!r} is not a valid template variable name.")
