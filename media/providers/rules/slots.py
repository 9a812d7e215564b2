"""A tool parameter's value in what the caller said: emails, digit strings, names, enum values,
yes/no, numbers and free text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from media.providers.rules import hearing
from media.providers.rules.matching import keywords, one_edit_apart

_FREE_TEXT = ("reason", "description", "query", "summary", "question", "topic", "statement",
              "details", "goal", "issue", "message", "context", "preferences")  # fmt: skip
_DIGIT_NAMES = ("ssn", "code", "pin", "phone", "number", "digits", "_id", "last4")
# Words of a digit parameter's name and description that say nothing about which number it is.
_GENERIC_WORDS = "last first four six digit digits number numbers 4 6 caller's caller the of your"
_GENERIC = frozenset(_GENERIC_WORDS.split(" "))
# How far back a mention of the parameter ("my social ... is 4817") may come before the digits.
_MENTION_WORDS = 8


@dataclass(frozen=True, slots=True)
class Heard:
    """A parameter value read from an utterance.

    `confirm`: the reading was doubtful (a homophone, a year-like number, more digits than
    wanted): ask the caller before using it. `short`: fewer digits than wanted were heard.
    """

    value: Any = None
    confirm: bool = False
    short: str = ""


def expected_digits(name: str, prop: Mapping[str, Any]) -> int | None:
    match = re.search(r"\\d\{(\d+)\}", str(prop.get("pattern", "")))
    if match:
        return int(match.group(1))
    found = re.search(r"(?:last_?|_)(\d)\b", name)
    return int(found.group(1)) if found else None


def is_digits(name: str, prop: Mapping[str, Any]) -> bool:
    lname = name.lower()
    return bool(expected_digits(lname, prop)) or any(k in lname for k in _DIGIT_NAMES)


def mentions(name: str, prop: Mapping[str, Any], text: str) -> bool:
    """`text` names what a digit parameter is ("social", "card"), not only "the last four"."""
    return bool(_mention_words(name, prop) & keywords(text))


def _mention_words(name: str, prop: Mapping[str, Any]) -> set[str]:
    said = keywords(name.replace("_", " ") + " " + str(prop.get("description") or ""))
    return {w for w in said if w not in _GENERIC and not w.isdigit()}


def read(
    name: str, prop: Mapping[str, Any], text: str, *, current: bool, asked: bool
) -> Heard | None:
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
        found = _enum_value(enum, text)
        return None if found is None else Heard(found)
    if kind == "boolean":
        if hearing.is_yes(text):
            return Heard(True)
        if hearing.is_no(text):
            return Heard(False)
        return None
    if "email" in lname or prop.get("format") == "email":
        found = hearing.email(text)
        return None if found is None else Heard(found)
    if is_digits(lname, prop):
        return _digits(lname, prop, text)
    if kind in ("number", "integer"):
        match = re.search(r"\d+(?:\.\d+)?", text.replace(",", ""))
        if not match:
            return None
        number = float(match.group(0))
        return Heard(int(number) if kind == "integer" else number)
    if "name" in lname:
        found = hearing.name(text, asked=asked)
        return None if found is None else Heard(found)
    if kind == "string" and (current or asked) and any(k in lname for k in _FREE_TEXT):
        return Heard(text.strip())
    return None


def _enum_value(enum: list[Any], text: str) -> Any:
    said = hearing.words(text)
    lowered = " " + " ".join(said) + " "
    for value in enum:
        spoken = " " + str(value).lower().replace("_", " ") + " "
        if spoken in lowered:
            return value
    for value in enum:  # "stolin" for "stolen"
        spoken = str(value).lower()
        if len(spoken) >= 5 and spoken.isalpha() and any(one_edit_apart(w, spoken) for w in said):
            return value
    return None


def _digits(name: str, prop: Mapping[str, Any], text: str) -> Heard | None:
    runs = hearing.digit_runs(text)
    wanted = expected_digits(name, prop)
    if not wanted:
        clean = "".join(r.digits for r in runs if not r.doubtful)
        if len(clean) >= 4:
            return Heard(clean)
        if name.endswith("_id"):  # identifiers that are words (e.g. "client 7")
            match = re.search(r"\b([a-z]+[-_ ]?\d+)\b", text.lower())
            return Heard(match.group(1)) if match else None
        return None
    exact = [r for r in runs if len(r.digits) == wanted]
    clean = [r for r in exact if not r.doubtful]
    if clean:
        return Heard(_mentioned_last(name, prop, text, clean).digits)
    if exact:
        return Heard(exact[-1].digits, confirm=True)
    # Nothing of the right length: all digits said, once each (a run's own readings overlap).
    heard = "".join(r.digits for r in runs if r.whole)
    if len(heard) > wanted:
        return Heard(heard[-wanted:], confirm=True)
    return Heard(short=heard) if heard else None


def _mentioned_last(
    name: str, prop: Mapping[str, Any], text: str, runs: list[hearing.DigitRun]
) -> hearing.DigitRun:
    """Of several numbers, the last one said just after what the parameter is."""
    if len(runs) == 1:
        return runs[0]
    tokens = hearing.token_list(text)
    mention = _mention_words(name, prop)
    for run in reversed(runs):
        before = tokens[max(0, run.start - _MENTION_WORDS) : run.start]
        if keywords(" ".join(before)) & mention:
            return run
    return runs[-1]


def is_free_text(name: str, prop: Mapping[str, Any]) -> bool:
    """Any utterance fills it (a reason, a question), so it says nothing about being answered."""
    lname = name.lower()
    return (
        prop.get("type", "string") == "string"
        and not prop.get("enum")
        and "name" not in lname
        and "email" not in lname
        and not is_digits(lname, prop)
        and any(k in lname for k in _FREE_TEXT)
    )
