"""The rules dialogue engine's turn logic (what it does is described in the package docstring)."""

from __future__ import annotations

import json
import re
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
from media.providers.rules import hearing, history, replies, slots
from media.providers.rules.matching import clear_score, keywords, pick, score, vocabulary

# Replies in a row that do not answer the question before the engine stops asking it.
MAX_REASKS = 2


@dataclass(slots=True)
class _Pending:
    """The tool being filled in: its arguments so far and the question last asked."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    asked: str = ""  # the parameter asked for
    confirming: Any = None  # a value read for `asked`, waiting for the caller's yes
    reasks: int = 0  # replies in a row that did not answer
    source: str = ""  # what the caller said asking for it, when it waits for another tool


class RulesDialogueEngine(LLM):
    """A deterministic, tool-aware dialogue engine. It is NOT an LLM (see the package docstring).

    One instance per session; it remembers the tool it is filling in, the question it asked, a
    number waiting for the caller's yes, and a request that waits for another tool to succeed
    (one refused until the caller is verified, or asked for while answering a question). A
    decision is plain string work on the event loop.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._pending: _Pending | None = None
        self._waiting: _Pending | None = None

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
            result = history.as_json(last.get("content"))
            if result.get("ends_call"):
                return "", None  # the farewell was said with the call
            if not result.get("handoff"):
                called, arguments = history.called_tool(messages)
                self._pending = self._retry(result, called, arguments, tools)
                if self._pending is not None and self._pending.tool != called:
                    # Refused until another tool succeeds (verification): asked again after it.
                    kept = {k: v for k, v in arguments.items() if not slots.is_identifier(k)}
                    self._waiting = _Pending(called, kept, source=utterance)
                rendered = replies.render(result)
                if history.failed(result):
                    return rendered, None
                text, call = self._resume(request, utterance, called, tools)
                return (f"{rendered} {text}".strip() if text else rendered), call
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
            another = other is not None and other.name != spec.name
            clear = another and clear_score(said, other, tools)
            answers = self._answers(spec, pending, utterance)
            if not clear or answers:
                if another and (not answers or score(said, other) > score(said, spec)):
                    # The answer first, then the request: "Yes please, send me a replacement
                    # card"; a request said instead of the answer waits for it.
                    self._waiting = _Pending(other.name, source=utterance)
                if pending.confirming is not None:
                    return self._settle(request, spec, utterance, pending, tools)
                return self._call_or_ask(
                    request, spec, utterance, pending, tools, first=another and not answers
                )
        self._pending = None
        self._waiting = None
        spec = pick(said, tools, allow_handoff=allow_handoff)
        if spec is None:
            if after_handoff:
                return "How can I help you with that?", None
            talk = hearing.small_talk(utterance)
            if talk == "thanks":
                return "You're welcome. Is there anything else I can help you with?", None
            lead = "Hello!" if talk == "greeting" else replies.NOT_CAUGHT
            return f"{lead} {replies.offer(tools)}", None
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
            lead = replies.short_lead(heard.short) if heard is not None else "Sorry about that."
            return f"{lead} {replies.question(name, prop)}", None
        else:
            reasks = pending.reasks + 1
            return self._confirm(
                spec,
                pending.arguments,
                name,
                pending.confirming,
                reasks,
                tools,
                lead=replies.NOT_CAUGHT,
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
        self._waiting = None
        return f"Sorry, I still didn't catch that. {replies.offer(tools)}", None

    def _call_or_ask(
        self,
        request: LLMRequest,
        spec: ToolSpec,
        utterance: str,
        pending: _Pending | None,
        tools: dict[str, ToolSpec],
        *,
        read_current: bool = True,
        resumed_from: str = "",
        first: bool = False,
    ) -> tuple[str, ToolCallRequest | None]:
        """Call `spec` when its required parameters are known, else ask for one.

        `resumed_from`: a request the caller made in an earlier utterance, taken up again now;
        it is read as said then, and the current utterance only for what it says it is.
        `first`: the caller asked for something else, which waits for this tool.
        """
        properties: Mapping[str, Any] = spec.parameters.get("properties") or {}
        required = list(spec.parameters.get("required") or [])
        same_tool = pending is not None and pending.tool == spec.name
        arguments = dict(pending.arguments) if same_tool else {}
        asked = pending.asked if same_tool else ""
        known_before = len(arguments)
        earlier = [hearing.repaired(t) for t in history.earlier_user_texts(request.messages)]
        if resumed_from and resumed_from != utterance:
            earlier.insert(0, utterance)
            utterance = hearing.repaired(resumed_from)
        named, described, _ = vocabulary(spec)
        tool_words = named | described
        doubtful: tuple[str, Any] | None = None
        short: tuple[str, str] | None = None
        for name, prop in properties.items():
            if name in arguments:
                continue
            if slots.is_identifier(name):
                # The session's own id (the verified client) wins over anything said.
                known = self._remembered(name, request)
                if known is not None:
                    arguments[name] = known
                    continue
            heard = None
            if read_current:
                heard = slots.read(name, prop, utterance, current=True, asked=name == asked,
                                   tool_words=tool_words)  # fmt: skip
            if heard is not None and heard.confirm:
                doubtful = doubtful or (name, heard.value)
                continue
            if heard is not None and heard.short:
                # Too few digits of a number the caller gave: asked again, never dropped.
                if name in required or slots.mentions(name, prop, utterance):
                    short = short or (name, heard.short)
                continue
            value = heard.value if heard is not None else None
            if value is None:
                value = self._remembered(name, request)
            if value is None:
                value = _from_earlier(name, prop, earlier, tool_words)
            if value is not None:
                arguments[name] = value
        # Progress: a new tool, a new value, a number to read back, or a settled read-back.
        progressed = (
            not same_tool
            or not read_current
            or bool(resumed_from)
            or len(arguments) > known_before
            or doubtful is not None
        )
        reasks = 0 if progressed else pending.reasks + 1
        if doubtful is not None:
            return self._confirm(spec, arguments, doubtful[0], doubtful[1], reasks, tools)
        missing = [name for name in required if name not in arguments]
        if short is not None and short[0] not in required:
            missing.insert(0, short[0])
        if missing:
            if reasks > MAX_REASKS:
                return self._give_up(tools)
            slot = short[0] if short is not None and short[0] in missing else missing[0]
            if short is not None and slot == short[0]:
                lead = replies.short_lead(short[1])
            elif first and reasks:
                lead = "First,"
            else:
                lead = replies.NOT_CAUGHT if reasks else ""
            self._pending = _Pending(spec.name, arguments, slot, reasks=reasks)
            question = replies.question(slot, properties.get(slot) or {})
            if lead.endswith(","):
                question = question[:1].lower() + question[1:]
            return (f"{lead} {question}" if lead else question), None
        self._pending = None
        args = {k: v for k, v in arguments.items() if k in properties or not properties}
        call = ToolCallRequest(f"call_rules_{id(self):x}_{len(request.messages)}", spec.name, args,
                               json.dumps(args))  # fmt: skip
        lead = "" if spec.is_handoff else "One moment."
        return lead, call

    @staticmethod
    def _retry(
        result: Mapping[str, Any],
        called: str,
        arguments: Mapping[str, Any],
        tools: dict[str, ToolSpec],
    ) -> _Pending | None:
        """After a failed tool asks the caller something, the tool the answer goes to.

        A result naming the parameter it asks again (`asks`) goes back to its tool with the
        other arguments kept.
        "Could you say them again?" goes back to the tool that failed; "I need to verify your
        identity first. What is your full name ...?" goes to the tool its words name. A tool
        that had all it requires and asks about one of its options ("You have more than one
        card. What are its last four digits?") keeps its arguments and asks for that option.
        """
        message = str(result.get("message") or "")
        if result.get("success") is not False or not message.rstrip().endswith("?"):
            return None
        asks = str(result.get("asks") or "")
        own = tools.get(called)
        if own is not None and asks in (own.parameters.get("properties") or {}):
            # The tool names what it asks again ("I can't find a card ending in 2 2 5 4 ...
            # What are its last four digits?"): the answer replaces that argument.
            kept = {k: v for k, v in arguments.items() if not slots.is_identifier(k) and k != asks}
            return _Pending(called, kept, asked=asks)
        said = keywords(message)
        target = tools.get(called)
        named = pick(said, tools, allow_handoff=False)
        if target is None or (named is not None and score(said, named) > score(said, target)):
            target = named
        if target is None:
            return None
        properties = target.parameters.get("properties") or {}
        required = [
            name
            for name in target.parameters.get("required") or ()
            if not slots.is_free_text(name, properties.get(name) or {})
        ]
        if target.name == called and all(name in arguments for name in required):
            option = _option_asked(message, target, arguments)
            if option:
                kept = {k: v for k, v in arguments.items() if not slots.is_identifier(k)}
                return _Pending(target.name, kept, asked=option)
        if not required:
            return None  # nothing to say again: a free-text answer would only repeat the call
        # The answer is read as if its first parameter was asked for ("Alice Johnson, 4817").
        return _Pending(target.name, asked=required[0])

    def _resume(
        self, request: LLMRequest, utterance: str, called: str, tools: dict[str, ToolSpec]
    ) -> tuple[str, ToolCallRequest | None]:
        """After a tool succeeds, the request that waited for it, if this agent can serve it:
        the account question refused before verification, or the request made while answering
        a question."""
        waiting, self._waiting = self._waiting, None
        if waiting is None or waiting.tool == called or waiting.tool not in tools:
            return "", None
        spec = tools[waiting.tool]
        pending = _Pending(spec.name, dict(waiting.arguments))
        source = waiting.source or utterance
        return self._call_or_ask(request, spec, utterance, pending, tools, resumed_from=source)

    @staticmethod
    def _remembered(name: str, request: LLMRequest) -> Any:
        """A value an earlier tool returned (e.g. client_id after verification) or tool state."""
        for message in reversed(request.messages):
            if message.get("role") == "tool":
                result = history.as_json(message.get("content"))
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


def _from_earlier(
    name: str, prop: Mapping[str, Any], texts: list[str], tool_words: frozenset[str]
) -> Any:
    """A value said in an earlier turn. A number counts only where the caller said what it is
    ("my social is 4817"), so one number is never taken for another."""
    for text in texts:
        heard = slots.read(name, prop, text, current=False, asked=False, tied=True,
                           tool_words=tool_words)  # fmt: skip
        if heard is not None and heard.value is not None and not heard.confirm:
            return heard.value
    return None


def _option_asked(message: str, spec: ToolSpec, arguments: Mapping[str, Any]) -> str:
    """The optional parameter a tool's question asks for: the one whose own question shares
    the most words with it ("What are its last four digits?" → `card_last4`)."""
    question = keywords(re.split(r"(?<=[.!?])\s+", message.strip())[-1])
    best, best_shared = "", 0
    for name, prop in (spec.parameters.get("properties") or {}).items():
        if name in arguments or slots.is_identifier(name) or slots.is_free_text(name, prop):
            continue
        shared = len(question & keywords(f"{prop.get('x-ask') or ''} {prop.get('description')}"))
        if shared > best_shared:
            best, best_shared = name, shared
    return best if best_shared >= 2 else ""
