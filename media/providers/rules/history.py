"""Reading the conversation the engine is given: what the caller said before, and the tool
call whose result came last."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def earlier_user_texts(messages: list[dict[str, Any]]) -> list[str]:
    """What the caller said before the current utterance, latest first."""
    texts = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return list(reversed(texts[:-1]))


def called_tool(messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The name and arguments of the tool whose result is the last message."""
    call_id = messages[-1].get("tool_call_id") if messages else None
    for message in reversed(messages):
        for call in message.get("tool_calls") or ():
            if call.get("id") == call_id:
                function = call.get("function") or {}
                return str(function.get("name") or ""), as_json(function.get("arguments"))
    return "", {}


def failed(result: Mapping[str, Any]) -> bool:
    return result.get("success") is False or ("error" in result and not result.get("success"))


def as_json(content: Any) -> dict[str, Any]:
    if isinstance(content, dict):
        return content
    try:
        value = json.loads(content or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
