"""What the rules engine says: tool results, questions, and what it can help with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from media.engine.snapshot import ToolSpec
from media.providers.rules.history import failed

NOT_CAUGHT = "Sorry, I didn't catch that."
# First words of a failed tool's message that read on after "Sorry," in lower case.
_COMMON_STARTS = frozenset((
    "you", "your", "none", "that", "this", "the", "there", "it", "we", "no", "a", "an", "one",
))  # fmt: skip


def render(result: Mapping[str, Any]) -> str:
    """A tool result said in a sentence: its `message`, else a few of its fields."""
    if not result:
        return "Done."
    if failed(result):
        message = str(result.get("message") or result.get("error") or "it did not work")
        return f"Sorry, {_sentence(_lowered_start(message))}"
    if result.get("message"):
        return _sentence(str(result["message"]))
    facts = []
    for key, value in result.items():
        if key in ("success", "status") or isinstance(value, dict | list) or value in (None, ""):
            continue
        facts.append(f"{key.replace('_', ' ')} {value}")
        if len(facts) == 3:
            break
    return ("Done: " + ", ".join(facts) + ".") if facts else "Done."


def offer(tools: dict[str, ToolSpec]) -> str:
    """What the agent's tools can do, said when nothing the caller said matched one."""
    # One-time codes are a step of another request, not something to offer.
    offered = [
        t for t in tools.values() if not t.is_handoff and not t.ends_call and "mfa" not in t.tags
    ]
    names = [t.name.replace("_", " ") for t in offered][:4]
    if not names:
        return "How can I help you today?"
    if len(names) == 1:
        return f"I can help you {names[0]}. What would you like to do?"
    return f"I can help you {', '.join(names[:-1])} or {names[-1]}. What would you like to do?"


def question(name: str, prop: Mapping[str, Any]) -> str:
    """How to ask for a parameter: its `x-ask`, else its description."""
    return prop.get("x-ask") or (
        f"Could you tell me {prop.get('description') or name.replace('_', ' ')}?"
    )


def short_lead(digits: str) -> str:
    return f"I only heard {len(digits)} {'digit' if len(digits) == 1 else 'digits'}."


def _lowered_start(text: str) -> str:
    """A tool's message read on after "Sorry,": "you have ...", but "I couldn't ..." as is."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first.lower() in _COMMON_STARTS else text


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Done."
    return text if text[-1] in ".!?" else text + "."
