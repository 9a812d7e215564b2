"""A tool parameter's value in what the caller said: emails, digit strings, names, enum values,
yes/no, numbers and free text.

A value fills a parameter only where the caller said what it is for: a number is a count or an
amount when it stands by the parameter's words ("the last 3 transactions"), an identifier
(`client_id`) only after its own name ("client id 7"), an option (`expedited`) only when named
("by express delivery"), and digits from an earlier turn only just after what they are ("my
social ... is 4817"). So the digits of a social security number never become a limit, a client
id or a card's last four.
"""

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
_GENERIC_WORDS = (
    "last first four six digit digits number numbers 4 6 caller's caller the of your whether how"
)
_GENERIC = frozenset(_GENERIC_WORDS.split(" "))
# How far back a mention of the parameter ("my social ... is 4817") may come before the digits.
_MENTION_WORDS = 8
# How near a count or an amount stands to the parameter's words ("the last 3 transactions").
_NUMBER_WORDS = 4
# Words after a number that make it a quantity ("2 days ago"), not the start of a code.
_QUANTITY = frozenset((
    "day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours",
    "minute", "minutes", "ago", "times", "dollar", "dollars", "cent", "cents", "percent",
))  # fmt: skip
_SMALL_NUMBERS = {
    **{w: d for w, d in hearing.UNITS.items() if w not in ("oh", "o")},
    **hearing.TEENS,
}
_NEGATIONS = frozenset(("no", "not", "don't", "without", "never"))


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


def is_identifier(name: str) -> bool:
    """An id the session knows once the caller is verified (`client_id`), not a caller's code."""
    return bool(re.search(r"(?:^|_)ids?$", name.lower()))


def mentions(name: str, prop: Mapping[str, Any], text: str) -> bool:
    """`text` names what a digit parameter is ("social", "card"), not only "the last four"."""
    return bool(_mention_words(name, prop) & keywords(text))


def _mention_words(name: str, prop: Mapping[str, Any]) -> set[str]:
    said = keywords(name.replace("_", " ") + " " + str(prop.get("description") or ""))
    return {w for w in said if w not in _GENERIC and not w.isdigit()}


def read(
    name: str,
    prop: Mapping[str, Any],
    text: str,
    *,
    current: bool,
    asked: bool,
    tied: bool = False,
    tool_words: frozenset[str] = frozenset(),
) -> Heard | None:
    """The value of parameter `name` in `text`, if it is there.

    `current`: the utterance being answered (free text may be taken from it); `asked`: we
    asked for exactly this parameter, so a bare answer ("jane doe", "four two") counts;
    `tied`: digits count only just after what they are ("my card ... ends in 2250");
    `tool_words`: the words of the tool's own name and description, which do not name an
    option of it ("send" does not ask for express delivery of a card sent anyway).
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
        if not asked:
            return _option(name, prop, text, tool_words)
        if hearing.is_yes(text):
            return Heard(True)
        if hearing.is_no(text):
            return Heard(False)
        return None
    if "email" in lname or prop.get("format") == "email":
        found = hearing.email(text)
        return None if found is None else Heard(found)
    if is_identifier(lname):
        return _identifier(lname, text)
    if is_digits(lname, prop):
        return _digits(lname, prop, text, tied=tied and not asked)
    if kind in ("number", "integer"):
        number = _number(lname, prop, text, asked=asked)
        if number is None:
            return None
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


def _identifier(name: str, text: str) -> Heard | None:
    """An id said after its own name ("my client id is client 7"), never bare digits."""
    named = {w for w in keywords(name.replace("_", " ")) if w not in ("id", "ids")}
    if not named:
        return None
    lowered = text.lower()
    found = re.search(r"\b(?:" + "|".join(map(re.escape, sorted(named))) + r")s?\b", lowered)
    if found is None:
        return None
    rest = lowered[found.start() :]
    clean = "".join(r.digits for r in hearing.digit_runs(rest) if not r.doubtful)
    if len(clean) >= 4:
        return Heard(clean)
    match = re.search(r"\b([a-z]+[-_ ]?\d+)\b", rest)  # identifiers that are words: "client 7"
    return Heard(match.group(1)) if match else None


def _digits(name: str, prop: Mapping[str, Any], text: str, *, tied: bool) -> Heard | None:
    runs = hearing.digit_runs(text)
    tokens = hearing.token_list(text)
    if tied:
        mention = _mention_words(name, prop)
        runs = [r for r in runs if _said_before(tokens, r.start, mention)]
    wanted = expected_digits(name, prop)
    if not wanted:
        clean = "".join(r.digits for r in runs if not r.doubtful)
        return Heard(clean) if len(clean) >= 4 else None
    exact = [r for r in runs if len(r.digits) == wanted]
    clean = [r for r in exact if not r.doubtful]
    if clean:
        return Heard(_mentioned_last(name, prop, text, clean).digits)
    # "for 817": "four" written as the word it sounds like, right before the other digits.
    led = [r for r in exact if r.led_by_homophone]
    if led:
        return Heard(led[-1].digits)
    if exact:
        return Heard(exact[-1].digits, confirm=True)
    # Nothing of the right length: all digits said, once each (a run's own readings overlap),
    # but not a quantity ("2 days ago").
    said = [r for r in runs if r.whole and not _quantity(tokens, r)]
    heard = "".join(r.digits for r in said)
    if len(heard) > wanted:
        return Heard(heard[-wanted:], confirm=True)
    return Heard(short=heard) if heard else None


def _said_before(tokens: list[str], start: int, mention: set[str]) -> bool:
    return bool(keywords(" ".join(tokens[max(0, start - _MENTION_WORDS) : start])) & mention)


def _quantity(tokens: list[str], run: hearing.DigitRun) -> bool:
    return run.end < len(tokens) and tokens[run.end] in _QUANTITY


def _number(name: str, prop: Mapping[str, Any], text: str, *, asked: bool) -> float | None:
    """A count or an amount in range; unless asked for, one said by the parameter's words
    ("the last 3 transactions", "a 35 dollar fee"), so an SSN is never a count."""
    tokens = hearing.token_list(text)
    mention = _mention_words(name, prop)
    for value, start, end in _numbers(tokens):
        if not _in_range(value, prop):
            continue
        near = tokens[max(0, start - _NUMBER_WORDS) : end + _NUMBER_WORDS]
        if asked or keywords(" ".join(near)) & mention:
            return value
    return None


def _numbers(tokens: list[str]) -> list[tuple[float, int, int]]:
    """The numbers in `tokens` ("3", "2,500", "35.50", "three", "twenty five"): value and the
    tokens they span."""
    out: list[tuple[float, int, int]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        j = i + 1
        if token.isdigit():
            text = token
            while (
                j + 1 < len(tokens)
                and tokens[j] == ","
                and len(tokens[j + 1]) == 3
                and (tokens[j + 1].isdigit())
            ):
                text, j = text + tokens[j + 1], j + 2
            if j + 1 < len(tokens) and tokens[j] == "." and tokens[j + 1].isdigit():
                text, j = f"{text}.{tokens[j + 1]}", j + 2
            out.append((float(text), i, j))
        elif token in _SMALL_NUMBERS:
            out.append((float(_SMALL_NUMBERS[token]), i, j))
        elif token in hearing.TENS:
            value = int(hearing.TENS[token]) * 10
            if j < len(tokens) and tokens[j] in hearing.UNITS and tokens[j] not in ("oh", "o"):
                value, j = value + int(hearing.UNITS[tokens[j]]), j + 1
            out.append((float(value), i, j))
        i = j
    return out


def _in_range(value: float, prop: Mapping[str, Any]) -> bool:
    low, high = prop.get("minimum"), prop.get("maximum")
    above, below = prop.get("exclusiveMinimum"), prop.get("exclusiveMaximum")
    return not (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
        or (below is not None and value >= below)
    )


def _option(
    name: str, prop: Mapping[str, Any], text: str, tool_words: frozenset[str]
) -> Heard | None:
    """A yes/no option named in passing ("by express delivery"): on, unless said with "no"."""
    own = {w for w in _mention_words(name, prop) if w not in tool_words}
    said = [_stem_word(w) for w in hearing.words(text)]
    for i, word in enumerate(said):
        if word in own or (len(word) >= 5 and any(one_edit_apart(word, w) for w in own)):
            return Heard(not set(hearing.words(text)[max(0, i - 3) : i]) & _NEGATIONS)
    return None


def _stem_word(word: str) -> str:
    found = keywords(word)
    return next(iter(found)) if found else word


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
