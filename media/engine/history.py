"""Chat history helpers: OpenAI-style message dicts, kept consistent across barge-in."""

from __future__ import annotations

import json
from typing import Any


def tool_call_message(content: str, calls: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """The assistant message announcing tool calls `(call_id, name, arguments)`."""
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for call_id, name, arguments in calls
        ],
    }


def tool_result_message(call_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result, default=str)}


def trim_history(history: list[dict[str, Any]], max_messages: int) -> None:
    """Drop the oldest messages past `max_messages`, starting the rest at a user message."""
    if len(history) <= max_messages:
        return
    start = len(history) - max_messages
    while start < len(history) and history[start].get("role") != "user":
        start += 1
    del history[:start]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""
