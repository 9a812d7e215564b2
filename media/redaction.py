"""Personal data found in what callers say, and replaced before it is stored, logged or relayed.

Finds card numbers (13-19 digits passing the Luhn check), US social security numbers (nine
digits, or the last four after "social"/"SSN"), account numbers, phone numbers and email
addresses, written as a recognizer writes them: digits run together or apart ("4817",
"4 8 1 7", "4-8-1-7", "48 17"), spoken as words ("four eight one seven", "oh" for zero),
grouped with spaces, dashes, dots or brackets ("(425) 555-0123"), emails spelled out ("john
at example dot com"). Any other run of four or more digits said one by one is a code of some
kind and is replaced too.

Modes (`PII_REDACTION`, and per agent): `off`; `store`: redacted in stored transcripts and
state, logs, the dashboard relay and traces; `llm`: also in what the LLM is sent, through a
:class:`PiiVault` that gives each value a numbered placeholder and puts the value back in the
arguments of the tools the LLM calls (tools still get what they need).

Pure Python: no Django, no I/O. Not a guarantee: a number said in an unusual way can pass.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OFF, STORE, LLM = "off", "store", "llm"
MODES = (OFF, STORE, LLM)
INHERIT = "inherit"
_STRICTNESS = {OFF: 0, STORE: 1, LLM: 2}

CARD, SSN, ACCOUNT, PHONE, EMAIL, DIGITS = (
    "card number",
    "SSN",
    "account number",
    "phone number",
    "email",
    "number",
)

NUMBER_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


# Words that name the kind of number that follows them (within CONTEXT_WORDS words).
def _words(pattern: str) -> re.Pattern[str]:
    # Letter boundaries rather than \b, so that "ssn_last_4" and "card_number" count too.
    return re.compile(rf"(?<![a-z])({pattern})(?![a-z])", re.IGNORECASE)


_CONTEXT = (
    (SSN, _words("ssn|social|security")),
    (ACCOUNT, _words("account|routing|iban")),
    (CARD, _words("card")),
    (PHONE, _words("phone|mobile|cell|call me|reach me|text me")),
)
CONTEXT_WORDS = 8

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SPOKEN_EMAIL = re.compile(
    r"\b[\w.+-]+(?:\s+dot\s+[\w-]+)*\s+at\s+[\w-]+(?:\s+dot\s+[a-z]{2,})+\b", re.IGNORECASE
)
# A chunk of letters and digits together (an id such as a call id or a UUID) is not a number
# someone said; emails are found before this applies.
_ID_CHUNK = re.compile(r"\S*(?:[A-Za-z_]\S*\d|\d\S*[A-Za-z_])\S*")
_TOKEN = re.compile(r"\d+|[A-Za-z]+|[^\sA-Za-z\d]")
_SEPARATORS = {"-", "(", ")", ".", "/", "+"}
_MONEY_BEFORE = ("$", "€", "£")
_MONEY_AFTER = re.compile(r"\s*(dollars?|euros?|pounds?|cents?|percent|%)", re.IGNORECASE)
_SEPARATOR_WORDS = {"dash", "hyphen"}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str  # the text as written
    normalized: str = ""  # what a tool wants: the digits, an email's address

    @property
    def canonical(self) -> str:
        return self.normalized or self.value


def _spoken_email(said: str) -> str:
    address = re.sub(r"\s+dot\s+", ".", said, flags=re.IGNORECASE)
    return re.sub(r"\s+at\s+", "@", address, count=1, flags=re.IGNORECASE).replace(" ", "")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def find_pii(text: str) -> list[Finding]:
    """Every piece of personal data in `text`, in order, without overlaps."""
    findings = [Finding(EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    findings += [
        Finding(EMAIL, m.start(), m.end(), m.group(), _spoken_email(m.group()))
        for m in _SPOKEN_EMAIL.finditer(text)
        if not _overlaps(m.start(), m.end(), findings)
    ]
    blocked = findings + [
        Finding("", m.start(), m.end(), "")
        for m in _ID_CHUNK.finditer(text)
        if "@" not in m.group()
    ]
    for run in _digit_runs(text):
        if _overlaps(run.start, run.end, blocked):
            continue
        kind = _classify(text, run)
        if kind:
            findings.append(
                Finding(kind, run.start, run.end, text[run.start : run.end], run.digits)
            )
    return sorted(findings, key=lambda f: f.start)


def redact(text: str, replace: Callable[[Finding], str] | None = None) -> str:
    """`text` with each finding replaced by `[kind]` (or by what `replace` returns)."""
    if not text or not isinstance(text, str):
        return text
    findings = find_pii(text)
    if not findings:
        return text
    replace = replace or (lambda f: f"[{f.kind}]")
    out, last = [], 0
    for f in findings:
        out.append(text[last : f.start])
        out.append(replace(f))
        last = f.end
    out.append(text[last:])
    return "".join(out)


def redact_value(value: Any, replace: Callable[[Finding], str] | None = None) -> Any:
    """Every string in a JSON-like value redacted (dict keys kept)."""
    if isinstance(value, str):
        return redact(value, replace)
    if isinstance(value, dict):
        return {k: _redact_field(str(k), v, replace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, replace) for v in value]
    return value


def _redact_field(key: str, value: Any, replace: Callable[[Finding], str] | None) -> Any:
    """A field's value, read with its name as context (`"ssn_last_4": "4817"`)."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        prefix = f"{key}: "
        redacted = redact(prefix + str(value), replace)
        if redacted.startswith(prefix) and redacted != prefix + str(value):
            return redacted[len(prefix) :]
        return redact(value, replace) if isinstance(value, str) else value
    return redact_value(value, replace)


def strictest(*modes: str) -> str:
    """The mode that redacts most among `modes` (`inherit` and unknown values ignored)."""
    known = [m for m in modes if m in _STRICTNESS]
    return max(known, key=_STRICTNESS.__getitem__) if known else OFF


# --- digit runs -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    start: int
    end: int
    digits: str = ""
    pieces: list[str] = field(default_factory=list)  # each token's digits

    @property
    def said_one_by_one(self) -> bool:
        return len(self.pieces) >= 4 and all(len(p) == 1 for p in self.pieces)


_AMBIGUOUS_WORDS = {"for", "o", "oh"}  # digits only between other digits ("for example")


def _is_separator(token: str) -> bool:
    return token in _SEPARATORS or token.lower() in _SEPARATOR_WORDS


def _digit_runs(text: str):
    """Runs of digits and number words joined by spaces or separators, with their spans."""
    tokens = [
        (
            m.group(),
            m.start(),
            m.end(),
            m.group() if m.group().isdigit() else NUMBER_WORDS.get(m.group().lower()),
        )
        for m in _TOKEN.finditer(text)
    ]
    digits_at = [d for *_, d in tokens]
    for i, (token, *_rest) in enumerate(tokens):
        if token.lower() in _AMBIGUOUS_WORDS:
            prev_digit = _neighbour_digit(tokens, i, -1)
            next_digit = _neighbour_digit(tokens, i, 1)
            if not (prev_digit and next_digit):
                digits_at[i] = None
    run: _Run | None = None
    for i, ((token, start, end, _), digits) in enumerate(zip(tokens, digits_at, strict=True)):
        if digits is not None:
            if run is None:
                run = _Run(_opening(text, start), end)
            run.digits += digits
            run.pieces.append(digits)
            run.end = end
        elif run is not None and _joins(token, run.pieces[-1], _next_digits(tokens, digits_at, i)):
            continue
        elif run is not None:
            yield run
            run = None
    if run is not None:
        yield run


def _joins(separator: str, before: str, after: str | None) -> bool:
    """Whether `separator` between digit groups `before` and `after` keeps one number going.

    A comma joins digits said one by one ("4, 8, 1, 7"), not thousands ("1,234"); a dot
    joins groups of three or more ("425.555.0123"), not decimals ("12.50").
    """
    if after is None:
        return False
    if separator == ",":
        return len(before) == 1 and len(after) == 1
    if separator == ".":
        return len(before) >= 3 and len(after) >= 3
    return _is_separator(separator)


def _next_digits(tokens: list, digits_at: list, i: int) -> str | None:
    j = i + 1
    while j < len(tokens) and digits_at[j] is None and _is_separator(tokens[j][0]):
        j += 1
    return digits_at[j] if j < len(tokens) else None


def _opening(text: str, start: int) -> int:
    """Where a number starts, with a "+" or "(" written right before its first digit."""
    while start > 0 and text[start - 1] in "+(":
        start -= 1
    return start


def _neighbour_digit(tokens: list, i: int, step: int) -> bool:
    j = i + step
    while 0 <= j < len(tokens) and (_is_separator(tokens[j][0]) or tokens[j][0] == ","):
        j += step
    return (
        0 <= j < len(tokens)
        and tokens[j][3] is not None
        and tokens[j][0].lower() not in _AMBIGUOUS_WORDS
    )


def _context_kind(text: str, start: int) -> str:
    before = " ".join(text[:start].split()[-CONTEXT_WORDS:])
    for kind, pattern in _CONTEXT:
        if pattern.search(before):
            return kind
    return ""


def _classify(text: str, run: _Run) -> str:
    if text[: run.start].rstrip().endswith(_MONEY_BEFORE) or _MONEY_AFTER.match(text, run.end):
        return ""  # an amount
    n = len(run.digits)
    context = _context_kind(text, run.start)
    if 13 <= n <= 19 and luhn_valid(run.digits):
        return CARD
    if context == SSN and n in (4, 9):
        return SSN
    if n == 9 and (
        context in ("", SSN) or re.fullmatch(r"\d{3}-\d{2}-\d{4}", text[run.start : run.end])
    ):
        return SSN
    if context in (ACCOUNT, CARD) and n >= 4:
        return ACCOUNT if context == ACCOUNT or n < 13 else CARD
    if n == 10 or (n == 11 and run.digits[0] == "1") or context == PHONE and n >= 7:
        return PHONE
    if n >= 6:
        return ACCOUNT
    if run.said_one_by_one:
        return DIGITS
    return ""


def _overlaps(start: int, end: int, findings: list[Finding]) -> bool:
    return any(start < f.end and f.start < end for f in findings)


# --- the LLM's view: numbered placeholders, values back for the tools ----------------------


class PiiVault:
    """One conversation's placeholders: the same value always gets the same one.

    `redact` replaces each value with `[kind N]`; `restore` puts the values back into
    anything JSON-like (a tool call's arguments) in the form tools expect: a number's digits
    ("four eight one seven" → "4817"), an email's address. Used on the event loop and in tool worker
    threads; a dict's single assignments are atomic under the GIL, and a placeholder is only
    ever restored after it was handed out.
    """

    _PLACEHOLDER = re.compile(
        r"\[(card number|SSN|account number|phone number|email|number) (\d+)\]"
    )

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}

    def redact(self, text: str) -> str:
        return redact(text, self._placeholder)

    def redact_value(self, value: Any) -> Any:
        return redact_value(value, self._placeholder)

    def restore(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._PLACEHOLDER.sub(lambda m: self._values.get(m.group(), m.group()), value)
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.restore(v) for v in value]
        return value

    def _placeholder(self, finding: Finding) -> str:
        key = (finding.kind, finding.canonical)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            count = sum(1 for kind, _ in self._by_value if kind == finding.kind) + 1
            placeholder = f"[{finding.kind} {count}]"
            self._by_value[key] = placeholder
            self._values[placeholder] = finding.canonical
        return placeholder


# --- logs -------------------------------------------------------------------------------------


def install_log_redaction(mode: Callable[[], str]) -> None:
    """Redact every log record's message from now on while `mode()` is not `off`.

    A record factory rather than a handler filter, so that every handler (and pytest's log
    capture) sees the redacted message.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_pii", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if mode() == OFF:
            return record
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return record

    factory.redacts_pii = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
