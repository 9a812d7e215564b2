"""The rules dialogue engine's turn logic (what it does is described in the package docstring)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from media.engine.history import last_user_text
from media.engine.snapshot import ToolSpec
from media.engine.tool_calls import DEFAULT_FAREWELL
from media.providers.base import (
    LLM,
    LLMEvent,
    LLMRequest,
    ProviderCheck,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from media.providers.rules import hearing, slots
from media.providers.rules.matching import clear_score, keywords, pick, score

# Replies in a row that do not answer the question before the engine stops asking it.
MAX_REASKS = 2
NOT_CAUGHT = "Sorry, I didn't catch that."


@dataclass(slots=True)
class _Pending:
    """The tool being filled in: its arguments so far and the question last asked."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    asked: str = ""  # the parameter asked for
    confirming: Any = None  # a value read for `asked`, waiting for the caller's yes
    reasks: int = 0  # replies in a row that did not answer


class RulesDialogueEngine(LLM):
    """A deterministic, tool-aware dialogue engine. It is NOT an LLM (see the package docstring).

    One instance per session; it remembers the tool it is filling in, the question it asked and
    a number waiting for the caller's yes. A decision is plain string work on the event loop.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._pending: _Pending | None = None

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        return ProviderCheck(True, f"{cls.__module__}.{cls.__qualname__}", "rules (not an LLM)")

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        text, call = self.decide(request)
        if text:
            for i, word in enumerate(text.split(" ")):
                yield TextDelta(word if i == 0 else " " + word)
        if call is not None:
            yield call
        yield Usage(0, 0)

    # -- the rules ---------------------------------------------------------------------------

    def decide(self, request: LLMRequest) -> tuple[str, ToolCallRequest | None]:
        messages = request.messages
        tools = {t.name: t for t in request.tools}
        last = messages[-1] if messages else {}
        utterance = hearing.repaired(last_user_text(messages))
        if last.get("role") == "tool":
            result = _json(last.get("content"))
            if result.get("ends_call"):
                return "", None  # the farewell was said with the call
            if not result.get("handoff"):
                self._pending = self._retry(result, _called_tool(messages), tools)
                return self._render(result), None
            # A handoff: the new agent answers the same utterance, with its own tools.
            return self._respond(request, utterance, tools, allow_handoff=False, after_handoff=True)
        if last.get("role") == "assistant" and request.handoff_context is not None:
            return self._respond(request, utterance, tools, allow_handoff=False, after_handoff=True)
        return self._respond(request, utterance, tools, allow_handoff=True, after_handoff=False)

    def _respond(
        self,
        request: LLMRequest,
        utterance: str,
        tools: dict[str, ToolSpec],
        *,
        allow_handoff: bool,
        after_handoff: bool,
    ) -> tuple[str, ToolCallRequest | None]:
        pending = self._pending
        if not after_handoff:
            farewell = self._goodbye(request, utterance, tools, allow_handoff=allow_handoff)
            if farewell is not None:
                return farewell
        said = keywords(utterance)
        if pending is not None and pending.tool in tools and not after_handoff:
            spec = tools[pending.tool]
            other = pick(said, tools, allow_handoff=allow_handoff)
            # A new request wins over an answer to our question only if it clearly names a tool
            # and does not answer the question.
            if (
                other is None
                or other.name == spec.name
                or not clear_score(said, other, tools)
                or self._answers(spec, pending, utterance)
            ):
                if pending.confirming is not None:
                    return self._settle(request, spec, utterance, pending, tools)
                return self._call_or_ask(request, spec, utterance, pending, tools)
        self._pending = None
        spec = pick(said, tools, allow_handoff=allow_handoff)
        if spec is None:
            if after_handoff:
                return "How can I help you with that?", None
            talk = hearing.small_talk(utterance)
            if talk == "thanks":
                return "You're welcome. Is there anything else I can help you with?", None
            lead = "Hello!" if talk == "greeting" else NOT_CAUGHT
            return f"{lead} {self._offer(tools)}", None
        return self._call_or_ask(request, spec, utterance, None, tools)

    def _goodbye(
        self,
        request: LLMRequest,
        utterance: str,
        tools: dict[str, ToolSpec],
        *,
        allow_handoff: bool,
    ) -> tuple[str, ToolCallRequest] | None:
        """The farewell and the `end_call` when the caller says goodbye and asks for nothing
        else (an answer to the question asked counts as asking: "4 8 1 7, bye")."""
        end = next((t for t in tools.values() if t.ends_call), None)
        if end is None:
            return None
        others = hearing.goodbye(utterance)
        if others is None:
            return None
        if others:
            if pick(keywords(others), tools, allow_handoff=allow_handoff) is not None:
                return None
            pending = self._pending
            if (
                pending is not None
                and pending.tool in tools
                and self._answers(tools[pending.tool], pending, others)
            ):
                return None
        self._pending = None
        args = {"reason": "the caller said goodbye"}
        call = ToolCallRequest(f"call_rules_{id(self):x}_{len(request.messages)}", end.name, args,
                               json.dumps(args))  # fmt: skip
        return DEFAULT_FAREWELL, call

    @staticmethod
    def _answers(spec: ToolSpec, pending: _Pending, utterance: str) -> bool:
        """The reply answers the question asked (a free-text answer does not count)."""
        if pending.confirming is not None:
            return (
                hearing.is_yes(utterance)
                or hearing.is_no(utterance)
                or bool(hearing.digit_runs(utterance))
            )
        prop = (spec.parameters.get("properties") or {}).get(pending.asked)
        if prop is None or slots.is_free_text(pending.asked, prop):
            return False
        return slots.read(pending.asked, prop, utterance, current=True, asked=True) is not None

    def _settle(
        self,
        request: LLMRequest,
        spec: ToolSpec,
        utterance: str,
        pending: _Pending,
        tools: dict[str, ToolSpec],
    ) -> tuple[str, ToolCallRequest | None]:
        """The caller's answer to "Did you say 4 8 1 7?": yes, no, or the number again."""
        name = pending.asked
        prop = (spec.parameters.get("properties") or {}).get(name) or {}
        heard = slots.read(name, prop, utterance, current=True, asked=True)
        if heard is not None and heard.value is not None and not heard.confirm:
            value = heard.value  # the number said again, or corrected: "no, 2 0 9 5"
        elif heard is not None and heard.confirm:
            reasks = pending.reasks + 1
            return self._confirm(spec, pending.arguments, name, heard.value, reasks, tools)
        elif hearing.is_yes(utterance):
            value = pending.confirming
        elif hearing.is_no(utterance) or (heard is not None and heard.short):
            self._pending = _Pending(spec.name, pending.arguments, name, reasks=pending.reasks)
            lead = _short_lead(heard.short) if heard is not None else "Sorry about that."
            return f"{lead} {_question(name, prop)}", None
        else:
            reasks = pending.reasks + 1
            return self._confirm(
                spec, pending.arguments, name, pending.confirming, reasks, tools, lead=NOT_CAUGHT
            )
        arguments = {**pending.arguments, name: value}
        settled = _Pending(spec.name, arguments, name)
        return self._call_or_ask(request, spec, utterance, settled, tools, read_current=False)

    def _confirm(
        self,
        spec: ToolSpec,
        arguments: dict[str, Any],
        name: str,
        value: Any,
        reasks: int,
        tools: dict[str, ToolSpec],
        *,
        lead: str = "",
    ) -> tuple[str, ToolCallRequest | None]:
        if reasks > MAX_REASKS:
            return self._give_up(tools)
        self._pending = _Pending(spec.name, dict(arguments), name, confirming=value, reasks=reasks)
        question = f"Did you say {hearing.spaced(value)}?"
        return (f"{lead} {question}" if lead else question), None

    def _give_up(self, tools: dict[str, ToolSpec]) -> tuple[str, None]:
        self._pending = None
        return f"Sorry, I still didn't catch that. {self._offer(tools)}", None

    def _call_or_ask(
        self,
        request: LLMRequest,
        spec: ToolSpec,
        utterance: str,
        pending: _Pending | None,
        tools: dict[str, ToolSpec],
        *,
        read_current: bool = True,
    ) -> tuple[str, ToolCallRequest | None]:
        properties: Mapping[str, Any] = spec.parameters.get("properties") or {}
        required = list(spec.parameters.get("required") or [])
        same_tool = pending is not None and pending.tool == spec.name
        arguments = dict(pending.arguments) if same_tool else {}
        asked = pending.asked if same_tool else ""
        known_before = len(arguments)
        earlier = [hearing.repaired(t) for t in _earlier_user_texts(request.messages)]
        doubtful: tuple[str, Any] | None = None
        short: tuple[str, str] | None = None
        for name, prop in properties.items():
            if name in arguments:
                continue
            heard = None
            if read_current:
                heard = slots.read(name, prop, utterance, current=True, asked=name == asked)
            if heard is not None and heard.confirm:
                doubtful = doubtful or (name, heard.value)
                continue
            if heard is not None and heard.short:
                if name in required:
                    short = short or (name, heard.short)
                continue
            value = heard.value if heard is not None else None
            if value is None:
                value = self._remembered(name, request)
            if value is None:
                value = _from_earlier(name, prop, earlier)
            if value is not None:
                arguments[name] = value
        # Progress: a new tool, a new value, a number to read back, or a settled read-back.
        progressed = (
            not same_tool
            or not read_current
            or len(arguments) > known_before
            or doubtful is not None
        )
        reasks = 0 if progressed else pending.reasks + 1
        if doubtful is not None:
            return self._confirm(spec, arguments, doubtful[0], doubtful[1], reasks, tools)
        missing = [name for name in required if name not in arguments]
        if missing:
            if reasks > MAX_REASKS:
                return self._give_up(tools)
            slot = short[0] if short is not None and short[0] in missing else missing[0]
            if short is not None and slot == short[0]:
                lead = _short_lead(short[1])
            else:
                lead = NOT_CAUGHT if reasks else ""
            self._pending = _Pending(spec.name, arguments, slot, reasks=reasks)
            question = _question(slot, properties.get(slot) or {})
            return (f"{lead} {question}" if lead else question), None
        self._pending = None
        args = {k: v for k, v in arguments.items() if k in properties or not properties}
        call = ToolCallRequest(f"call_rules_{id(self):x}_{len(request.messages)}", spec.name, args,
                               json.dumps(args))  # fmt: skip
        lead = "" if spec.is_handoff else "One moment."
        return lead, call

    @staticmethod
    def _retry(
        result: Mapping[str, Any], called: str, tools: dict[str, ToolSpec]
    ) -> _Pending | None:
        """After a failed tool asks the caller something, the tool the answer goes to.

        "Could you say them again?" goes back to the tool that failed; "I need to verify your
        identity first. What is your full name ...?" goes to the tool its words name.
        """
        message = str(result.get("message") or "")
        if result.get("success") is not False or not message.rstrip().endswith("?"):
            return None
        said = keywords(message)
        target = tools.get(called)
        if target is None or score(said, target) == 0:
            target = pick(said, tools, allow_handoff=False)
        if target is None:
            return None
        properties = target.parameters.get("properties") or {}
        required = [
            name
            for name in target.parameters.get("required") or ()
            if not slots.is_free_text(name, properties.get(name) or {})
        ]
        if not required:
            return None  # nothing to say again: a free-text answer would only repeat the call
        # The answer is read as if its first parameter was asked for ("Alice Johnson, 4817").
        return _Pending(target.name, asked=required[0])

    @staticmethod
    def _remembered(name: str, request: LLMRequest) -> Any:
        """A value an earlier tool returned (e.g. client_id after verification) or tool state."""
        for message in reversed(request.messages):
            if message.get("role") == "tool":
                result = _json(message.get("content"))
                if result.get(name) not in (None, ""):
                    return result[name]
                context = result.get("handoff_context")
                if isinstance(context, dict) and context.get(name) not in (None, ""):
                    return context[name]
        value = request.tool_state.get(name)
        if value not in (None, "") and isinstance(value, str | int | float):
            return value
        if request.handoff_context and request.handoff_context.get(name) not in (None, ""):
            return request.handoff_context[name]
        return None

    @staticmethod
    def _render(result: Mapping[str, Any]) -> str:
        if not result:
            return "Done."
        if result.get("success") is False or ("error" in result and not result.get("success")):
            message = result.get("message") or result.get("error") or "it did not work"
            return f"Sorry, {_sentence(str(message))}"
        if result.get("message"):
            return _sentence(str(result["message"]))
        facts = []
        for key, value in result.items():
            if (
                key in ("success", "status")
                or isinstance(value, dict | list)
                or value in (None, "")
            ):
                continue
            facts.append(f"{key.replace('_', ' ')} {value}")
            if len(facts) == 3:
                break
        return ("Done: " + ", ".join(facts) + ".") if facts else "Done."

    @staticmethod
    def _offer(tools: dict[str, ToolSpec]) -> str:
        # One-time codes are a step of another request, not something to offer.
        offered = [
            t
            for t in tools.values()
            if not t.is_handoff and not t.ends_call and "mfa" not in t.tags
        ]
        names = [t.name.replace("_", " ") for t in offered][:4]
        if not names:
            return "How can I help you today?"
        if len(names) == 1:
            return f"I can help you {names[0]}. What would you like to do?"
        return f"I can help you {', '.join(names[:-1])} or {names[-1]}. What would you like to do?"


def _question(name: str, prop: Mapping[str, Any]) -> str:
    return prop.get("x-ask") or (
        f"Could you tell me {prop.get('description') or name.replace('_', ' ')}?"
    )


def _short_lead(digits: str) -> str:
    return f"I only heard {len(digits)} {'digit' if len(digits) == 1 else 'digits'}."


def _from_earlier(name: str, prop: Mapping[str, Any], texts: list[str]) -> Any:
    """A value said in an earlier turn. A number counts only where the caller said what it is
    ("my social is 4817"), so one number is never taken for another."""
    digits = slots.is_digits(name, prop)
    for text in texts:
        if digits and not slots.mentions(name, prop, text):
            continue
        heard = slots.read(name, prop, text, current=False, asked=False)
        if heard is not None and heard.value is not None and not heard.confirm:
            return heard.value
    return None


def _earlier_user_texts(messages: list[dict[str, Any]]) -> list[str]:
    """What the caller said before the current utterance, latest first."""
    texts = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return list(reversed(texts[:-1]))


def _called_tool(messages: list[dict[str, Any]]) -> str:
    """The name of the tool whose result is the last message."""
    call_id = messages[-1].get("tool_call_id") if messages else None
    for message in reversed(messages):
        for call in message.get("tool_calls") or ():
            if call.get("id") == call_id:
                return str((call.get("function") or {}).get("name") or "")
    return ""


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Done."
    return text if text[-1] in ".!?" else text + "."


def _json(content: Any) -> dict[str, Any]:
    if isinstance(content, dict):
        return content
    try:
        value = json.loads(content or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
