"""The engine's `ToolRunner` on the database: validates, executes, never raises.

Runs in the engine's worker threads (one tool call at a time per session). Arguments are
validated against the tool's JSON schema with `jsonschema` before the tool sees them; every
failure becomes a `{"success": False, "error", "message"}` result the LLM can speak from.
Neither arguments nor results are logged: arguments may hold what a caller said to verify.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from agentbuilder.tools.context import Call
from agentbuilder.tools.registry import ToolError, get_tool
from media.engine.snapshot import AgentRoster, ToolContext

logger = logging.getLogger(__name__)

DIGITS_PATTERN = re.compile(r"^\^\\d")
FAILED_MESSAGE = "Sorry, that didn't work on my side. Could we try that again?"


def _describe(error) -> tuple[str, str]:
    """A (field, message) pair for a jsonschema error that does not echo the value."""
    field = ".".join(str(p) for p in error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "required":
        missing = re.findall(r"'([^']+)'", error.message)
        field = missing[0] if missing else field
        return field, f"{field} is required"
    if kind == "additionalProperties":
        extra = ", ".join(re.findall(r"'([^']+)'", error.message))
        return "", f"unexpected argument(s): {extra}"
    if kind == "enum":
        return field, f"{field} must be one of: {', '.join(map(str, schema.get('enum', [])))}"
    if kind == "type":
        return field, f"{field} must be of type {schema.get('type')}"
    if kind == "pattern":
        return field, f"{field} does not have the expected format"
    if kind in ("minLength", "maxLength", "minItems", "maxItems"):
        return field, f"{field} is too {'short' if kind.startswith('min') else 'long'}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return field, f"{field} is out of range"
    return field, f"{field or 'arguments'} is not valid"


def _normalize(arguments: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Trim strings; drop spaces and dashes inside spoken digit strings ("1 2 3 4")."""
    properties = parameters.get("properties", {})
    clean: dict[str, Any] = {}
    for key, value in arguments.items():
        if isinstance(value, str):
            value = value.strip()
            pattern = properties.get(key, {}).get("pattern", "")
            if DIGITS_PATTERN.match(pattern) and re.fullmatch(r"[\d\s-]+", value):
                value = re.sub(r"[\s-]", "", value)
        if value is None:
            continue
        clean[key] = value
    return clean


def failure(error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"success": False, "error": error, "message": message, **extra}


class DatabaseToolRunner:
    """Executes registered tools against the database for one or more sessions.

    `roster` (optional) answers handoff tools with the original's handoff result shape; the
    engine normally switches agents itself and never sends them here.
    """

    def __init__(self, roster: AgentRoster | None = None) -> None:
        self.roster = roster

    def run(
        self, name: str, arguments: Mapping[str, Any] | str | None, context: ToolContext
    ) -> dict[str, Any]:
        try:
            return self._run(name, arguments, context)
        except Exception:  # the conversation must never see an exception
            logger.exception("session=%s tool=%s crashed", context.session_id, name)
            return failure("tool_failed", FAILED_MESSAGE)

    def _run(
        self, name: str, arguments: Mapping[str, Any] | str | None, context: ToolContext
    ) -> dict[str, Any]:
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError:
                return failure("invalid_arguments", "The arguments are not valid JSON.")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            return failure("invalid_arguments", "The arguments must be an object.")
        handoff = self._handoff(name, arguments)
        if handoff is not None:
            return handoff
        tool = get_tool(name)
        if tool is None:
            return failure("unknown_tool", f"There is no tool called {name}.")
        args = _normalize(dict(arguments), tool.parameters)
        problems = [_describe(e) for e in tool.validator.iter_errors(args)]
        if problems:
            fields = {f or "arguments": m for f, m in problems}
            return failure(
                "invalid_arguments", "; ".join(m for _, m in problems) + ".", fields=fields
            )
        if not connection.in_atomic_block:
            # Worker threads keep their connection between calls: drop it if it went stale.
            close_old_connections()
        call = Call(
            session_id=context.session_id, agent_name=context.agent_name, state=context.state
        )
        try:
            result = tool.func(call, **args)
        except ToolError as exc:
            logger.info("session=%s tool=%s refused: %s", context.session_id, name, exc.code)
            return failure(exc.code, exc.message, **({"asks": exc.asks} if exc.asks else {}))
        except DatabaseError:
            logger.exception("session=%s tool=%s database error", context.session_id, name)
            return failure("unavailable", FAILED_MESSAGE)
        logger.info(
            "session=%s agent=%s tool=%s success=%s",
            context.session_id,
            context.agent_name,
            name,
            result.get("success", True),
        )
        if "success" not in result:
            result = {"success": True, **result}
        return result

    def _handoff(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any] | None:
        target = None
        if self.roster is not None:
            for agent in self.roster.agents.values():
                spec = agent.tool(name)
                if spec is not None and spec.is_handoff:
                    target = spec.handoff_target
                    break
        else:
            from agentbuilder.models import Agent

            found = Agent.objects.filter(handoff_trigger=name, enabled=True).first()
            target = found.name if found else None
        if target is None:
            return None
        context = {k: v for k, v in arguments.items() if v not in (None, "", [], {})}
        context["handoff_timestamp"] = timezone.now().isoformat()
        summary = str(arguments.get("reason") or arguments.get("summary") or "")
        return {
            "success": True,
            "handoff": True,
            "target_agent": target,
            "message": "",
            "handoff_summary": summary,
            "handoff_context": context,
        }
