"""The `rules` dialogue engine: deterministic, tool-aware, and **not an LLM**.

It makes the offline default useful and tests deterministic. It speaks the LLM interface
(streamed text and tool calls) so the engine treats it like any LLM, but it only follows rules:

1. After a tool result it speaks a short rendering of it (the tool's `message`, or a few of its
   fields); after a handoff the new agent answers the same utterance with its own tools.
2. If it asked for a missing parameter last turn, the caller's answer fills it.
3. Otherwise it picks the active agent's tool whose name, description and parameter names share
   the most words with the utterance (handoffs too), fills required parameters from the
   utterance, earlier turns, earlier tool results and the session's tool state (emails, digit
   strings, names, enum values, yes/no, free text), asks for the first one missing (the
   parameter's `x-ask`, else its description) and calls the tool when all are known.
4. With no matching tool it says what it can help with.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from media.engine.history import last_user_text
from media.engine.snapshot import ToolSpec
from media.providers.base import (
    LLM,
    LLMEvent,
    LLMRequest,
    ProviderCheck,
    TextDelta,
    ToolCallRequest,
    Usage,
)

_STOP_WORDS = (
    "a an and are as at be by can could do for from get give have help i i'd i'm is it its "
    "me my of on or our please the their them this to up us want we what when where which "
    "who why will with would you your yes no hi hello hey thanks thank just like need some "
    "any about tell know caller customer agent tool"
)
_STOP = frozenset(_STOP_WORDS.split(" "))
# Caller words that mean a tool's vocabulary word (small, banking-flavoured, extendable).
_SYNONYMS = {
    "stolen": "fraud", "scam": "fraud", "suspicious": "fraud", "unauthorized": "fraud",
    "hacked": "fraud", "lost": "lost", "representative": "human", "person": "human",
    "operator": "human", "someone": "human", "balances": "balance", "money": "balance",
    "transactions": "transaction", "charges": "transaction", "charge": "transaction",
    "purchases": "transaction", "identity": "verify", "verification": "verify",
    "retirement": "retirement", "401k": "401k", "invest": "investment",
}  # fmt: skip
_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2",
    "three": "3", "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "ate": "8", "nine": "9",
}  # fmt: skip
_STRICT_DIGIT_WORDS = {k: v for k, v in _DIGIT_WORDS.items() if k not in ("to", "too", "for", "o")}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NAME_PATTERNS = [
    re.compile(
        r"\b(?:my name is|my name's|this is|i am|i'm|name is|it's)\s+"
        r"([a-z][a-z'-]+(?:\s+[a-z][a-z'-]+)?)",
        re.I,
    ),
]
_YES = frozenset(("yes", "yeah", "yep", "sure", "correct", "right", "ok", "okay", "affirmative"))
_NO = frozenset(("no", "nope", "not", "don't", "negative"))
_FREE_TEXT = ("reason", "description", "query", "summary", "question", "topic", "statement",
              "details", "goal", "issue", "message", "context", "preferences")  # fmt: skip


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("_", " "))


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _keywords(text: str) -> set[str]:
    out = set()
    for word in _words(text):
        if word in _STOP:
            continue
        out.add(_stem(_SYNONYMS.get(word, word)))
    return out


def _spoken_digits(text: str, strict: bool) -> str:
    """'one two three four' -> '1234' (and digits already written stay)."""
    table = _STRICT_DIGIT_WORDS if strict else _DIGIT_WORDS
    out = []
    for word in _words(text):
        if word.isdigit():
            out.append(word)
        elif word in table:
            out.append(table[word])
    return "".join(out)


def _spoken_email(text: str) -> str | None:
    found = _EMAIL.search(text)
    if found:
        return found.group(0).lower()
    spoken = re.sub(r"\s+at\s+", "@", text.lower())
    spoken = re.sub(r"\s+dot\s+", ".", spoken)
    found = _EMAIL.search(spoken)
    return found.group(0) if found else None


@dataclass(slots=True)
class _Pending:
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    asked: str = ""


def _expected_digits(name: str, prop: Mapping[str, Any]) -> int | None:
    match = re.search(r"\\d\{(\d+)\}", str(prop.get("pattern", "")))
    if match:
        return int(match.group(1))
    found = re.search(r"(?:last_?|_)(\d)\b", name)
    return int(found.group(1)) if found else None


class RulesDialogueEngine(LLM):
    """A deterministic, tool-aware dialogue engine. It is NOT an LLM (see the module docstring).

    One instance per session; it remembers which parameter it asked for.
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
        utterance = last_user_text(messages)
        if last.get("role") == "tool":
            result = _json(last.get("content"))
            if not result.get("handoff"):
                self._pending = None
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
        if pending is not None and pending.tool in tools and not after_handoff:
            spec = tools[pending.tool]
            keywords = _keywords(utterance)
            other = self._pick(keywords, tools, allow_handoff)
            # A new request wins over an answer to our question only if it clearly names a tool.
            if other is None or other.name == spec.name or self._score(keywords, other) < 3:
                return self._call_or_ask(request, spec, utterance, pending.arguments)
        self._pending = None
        spec = self._pick(_keywords(utterance), tools, allow_handoff)
        if spec is None:
            if after_handoff:
                return "How can I help you with that?", None
            return self._offer(tools), None
        return self._call_or_ask(request, spec, utterance, {})

    def _pick(
        self, keywords: set[str], tools: dict[str, ToolSpec], allow_handoff: bool
    ) -> ToolSpec | None:
        best, best_score = None, 0
        for spec in tools.values():
            if spec.is_handoff and not allow_handoff:
                continue
            score = self._score(keywords, spec)
            if score > best_score:
                best, best_score = spec, score
        return best if best_score >= 2 else None

    @staticmethod
    def _score(keywords: set[str], spec: ToolSpec) -> int:
        name_words = _keywords(spec.name.replace("handoff", "").replace("_to_", "_"))
        described = _keywords(spec.description)
        params = set()
        for pname in spec.parameters.get("properties") or {}:
            params |= _keywords(pname)
        return sum(2 * (w in name_words) + (w in described) + (w in params) for w in keywords)

    def _call_or_ask(
        self, request: LLMRequest, spec: ToolSpec, utterance: str, known: dict[str, Any]
    ) -> tuple[str, ToolCallRequest | None]:
        properties: Mapping[str, Any] = spec.parameters.get("properties") or {}
        required = list(spec.parameters.get("required") or [])
        arguments = dict(known)
        sources = [utterance, *self._earlier_user_texts(request.messages, utterance)]
        for name, prop in properties.items():
            if name in arguments:
                continue
            asked = self._pending is not None and self._pending.asked == name
            value = self._from_text(name, prop, utterance, current=True, asked=asked)
            if value is None:
                value = self._remembered(name, request)
            if value is None:
                for text in sources[1:]:
                    value = self._from_text(name, prop, text, current=False, asked=False)
                    if value is not None:
                        break
            if value is not None:
                arguments[name] = value
        missing = [name for name in required if name not in arguments]
        if missing:
            prop = properties.get(missing[0]) or {}
            question = prop.get("x-ask") or (
                f"Could you tell me {prop.get('description') or missing[0].replace('_', ' ')}?"
            )
            self._pending = _Pending(spec.name, arguments, missing[0])
            return question, None
        self._pending = None
        args = {k: v for k, v in arguments.items() if k in properties or not properties}
        call = ToolCallRequest(f"call_rules_{id(self):x}_{len(request.messages)}", spec.name, args,
                               json.dumps(args))  # fmt: skip
        lead = "" if spec.is_handoff else "One moment."
        return lead, call

    @staticmethod
    def _earlier_user_texts(messages: list[dict[str, Any]], current: str) -> list[str]:
        texts = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
        if texts and texts[-1] == current:
            texts.pop()
        return list(reversed(texts))

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
    def _from_text(
        name: str, prop: Mapping[str, Any], text: str, *, current: bool, asked: bool
    ) -> Any:
        """The value of parameter `name` in `text`, if it is there.

        `current`: the utterance being answered (free text may be taken from it); `asked`: we
        asked for exactly this parameter, so a bare answer ("jane doe", "four two") counts.
        """
        if not text:
            return None
        kind = prop.get("type", "string")
        lname = name.lower()
        enum = prop.get("enum")
        if enum:
            lowered = " " + " ".join(_words(text)) + " "
            for value in enum:
                spoken = " " + str(value).lower().replace("_", " ") + " "
                if spoken in lowered:
                    return value
            return None
        if kind == "boolean":
            words = set(_words(text))
            if words & _YES:
                return True
            if words & _NO:
                return False
            return None
        if "email" in lname or prop.get("format") == "email":
            return _spoken_email(text)
        digits_wanted = _expected_digits(lname, prop)
        if digits_wanted or any(
            k in lname for k in ("ssn", "code", "pin", "phone", "number", "digits", "_id", "last4")
        ):
            digits = _spoken_digits(text, strict=True)
            if asked and digits_wanted and len(digits) < digits_wanted:
                digits = _spoken_digits(text, strict=False)  # "four two" heard as "for to"
            if digits_wanted:
                if len(digits) >= digits_wanted:
                    return digits[-digits_wanted:]
                return None
            if len(digits) >= 4:
                return digits
            if lname.endswith("_id"):  # identifiers that are words (e.g. "client 7")
                match = re.search(r"\b([a-z]+[-_ ]?\d+)\b", text.lower())
                return match.group(1) if match else None
            return None
        if kind in ("number", "integer"):
            match = re.search(r"\d+(?:\.\d+)?", text.replace(",", ""))
            if not match:
                return None
            return int(float(match.group(0))) if kind == "integer" else float(match.group(0))
        if "name" in lname:
            for pattern in _NAME_PATTERNS:
                found = pattern.search(text)
                if found:
                    return found.group(1).title()
            words = text.strip().rstrip(".").split()
            if asked and 1 <= len(words) <= 4 and all(w.isalpha() for w in words):
                return " ".join(w.title() for w in words)
            return None
        if kind == "string" and (current or asked) and any(k in lname for k in _FREE_TEXT):
            return text.strip()
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
        names = [t.name.replace("_", " ") for t in tools.values() if not t.is_handoff][:4]
        if not names:
            return "How can I help you today?"
        if len(names) == 1:
            return f"I can help you {names[0]}. What would you like to do?"
        return f"I can help you {', '.join(names[:-1])} or {names[-1]}. What would you like to do?"


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
