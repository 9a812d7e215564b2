"""The tool registry: what an agent may call, with JSON-schema parameters.

Tools register themselves with :func:`tool` when their module is imported
(`AgentBuilderConfig.ready` imports them all). Handoff tools are not registered here: they are
derived from the agents' handoff triggers (see `agentbuilder.selectors`). A tool registered
with `ends_call=True` (`end_call`) is special to the speech engine, like a handoff: its
`ToolSpec` carries the flag and the engine ends the conversation after the farewell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator


class ToolError(Exception):
    """An expected failure the caller should hear about (not a bug).

    `code` is a stable machine-readable reason; `message` is said to the caller. `asks`: the
    parameter the message asks the caller for again (a value that matched nothing), which the
    result carries so a dialogue engine puts the answer there.
    """

    def __init__(self, code: str, message: str, *, asks: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.asks = asks


@dataclass(frozen=True, slots=True)
class Tool:
    """A registered tool. `func(call, **arguments)` returns a JSON-able dict.

    `ends_call`: the engine ends the conversation after the agent's farewell instead of
    running `func` (which serves engines that cannot end a call).
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    func: Callable[..., dict[str, Any]]
    tags: tuple[str, ...] = ()
    ends_call: bool = False
    validator: Draft202012Validator = field(repr=False, compare=False, default=None)

    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema `{name, description, parameters}`."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


_REGISTRY: dict[str, Tool] = {}


def param(
    kind: str = "string",
    description: str = "",
    *,
    ask: str = "",
    enum: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One JSON-schema property. `ask` is how to ask the caller for it (`x-ask`)."""
    prop: dict[str, Any] = {"type": kind, "description": description}
    if enum:
        prop["enum"] = list(enum)
    if ask:
        prop["x-ask"] = ask
    prop.update(extra)
    return prop


def schema(*, required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def tool(
    *,
    name: str,
    description: str,
    parameters: dict[str, Any],
    tags: tuple[str, ...] = (),
    ends_call: bool = False,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register the decorated function as a tool. Names are unique: a clash is a bug."""

    def register(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        if name in _REGISTRY:
            raise ValueError(f"tool {name!r} is registered twice")
        Draft202012Validator.check_schema(parameters)
        _REGISTRY[name] = Tool(
            name=name,
            description=description,
            parameters=parameters,
            func=func,
            tags=tuple(tags),
            ends_call=ends_call,
            validator=Draft202012Validator(parameters),
        )
        return func

    return register


def registry() -> dict[str, Tool]:
    """All registered tools by name."""
    return _REGISTRY


def get_tool(name: str) -> Tool | None:
    return registry().get(name)
