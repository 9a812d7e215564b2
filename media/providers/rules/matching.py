"""Choosing the tool or handoff an utterance asks for, by the words they share.

A tool scores 2 for each of the caller's words in its name, 1 in its description and 1 in its
parameter names. The caller's words go through a synonyms table, and a word the agent's tools
do not know is read as a word they know that is one letter away (for words of 5+ letters), so
"balence" and "transactons" still count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from media.engine.snapshot import ToolSpec
from media.providers.rules.hearing import words

_STOP_WORDS = (
    "a an and are as at be by can could do for from get give have help i i'd i'm i've is it "
    "its it's me my of on or our please the their them this to up us want we what what's when "
    "where which who why will with would you you're your yes no hi hello hey thanks thank just "
    "like need some any about tell know caller customer agent tool that's there's think question "
    "questions"
)
_STOP = frozenset(_STOP_WORDS.split(" "))
# Caller words that mean a tool's vocabulary word (small, banking-flavoured, extendable).
_SYNONYMS = {
    "stolen": "fraud", "stole": "fraud", "theft": "fraud", "thief": "fraud", "scam": "fraud",
    "suspicious": "fraud", "unauthorized": "fraud", "hacked": "fraud", "lost": "lost",
    "missing": "lost", "representative": "human", "person": "human", "operator": "human",
    "someone": "human", "balances": "balance", "money": "balance", "transactions": "transaction",
    "charges": "transaction", "charge": "transaction", "purchases": "transaction",
    "identity": "verify", "verification": "verify", "retirement": "retirement", "401k": "401k",
    "invest": "investment", "monday": "hours", "tuesday": "hours", "wednesday": "hours",
    "thursday": "hours", "friday": "hours", "saturday": "hours", "sunday": "hours",
    "weekend": "hours", "weekends": "hours", "holiday": "hours", "holidays": "hours",
}  # fmt: skip
_FUZZY_MIN_LETTERS = 5
# Words too common in tool descriptions to pick a tool on their own (a negation names nothing:
# "a charge they don't recognize" is the fraud desk's, "thank you, don't buy" is not).
_VAGUE = frozenset((
    "number", "numbers", "today", "thing", "something", "right", "first", "again",
    "don't", "doesn't", "didn't", "can't", "cannot", "won't", "isn't",
))  # fmt: skip
MIN_SCORE = 2
# A new request wins over the answer to a question the engine asked only with this score.
CLEAR_SCORE = 3


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def keywords(text: str) -> set[str]:
    out = set()
    for word in words(text):
        if word in _STOP:
            continue
        out.add(_stem(_SYNONYMS.get(word, word)))
    return out


@lru_cache(maxsize=1024)
def _vocabulary(
    name: str, description: str, parameters: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    named = keywords(name.replace("handoff", "").replace("_to_", "_"))
    params: set[str] = set()
    for parameter in parameters:
        params |= keywords(parameter)
    return frozenset(named), frozenset(keywords(description)), frozenset(params)


def vocabulary(spec: ToolSpec) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The words of a tool's name, description and parameter names."""
    properties: Mapping = spec.parameters.get("properties") or {}
    return _vocabulary(spec.name, spec.description, tuple(properties))


def score(said: set[str], spec: ToolSpec) -> int:
    named, described, params = vocabulary(spec)
    return sum(2 * (w in named) + (w in described) + (w in params) for w in said)


def understood(said: set[str], tools: Iterable[ToolSpec]) -> set[str]:
    """`said` with each word the tools do not know replaced by known words one letter away."""
    known: set[str] = set()
    for spec in tools:
        for part in vocabulary(spec):
            known |= part
    out = set()
    for word in said:
        if word in known or len(word) < _FUZZY_MIN_LETTERS:
            out.add(word)
            continue
        near = [k for k in known if len(k) >= _FUZZY_MIN_LETTERS and one_edit_apart(word, k)]
        out.update(near or (word,))
    return out


def one_edit_apart(a: str, b: str) -> bool:
    """True when `b` is `a` with one letter changed, added or dropped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def is_knowledge(spec: ToolSpec) -> bool:
    """A tool that answers general questions (it may take a question that scores only 1)."""
    return "knowledge" in spec.tags or "knowledge" in spec.name


def _pickable(tools: Mapping[str, ToolSpec]) -> list[ToolSpec]:
    """The tools words may pick. Ending the call is decided from the caller's goodbye
    (`hearing.goodbye`), never from words shared with its description ("end", "call")."""
    return [spec for spec in tools.values() if not spec.ends_call]


def pick(said: set[str], tools: Mapping[str, ToolSpec], *, allow_handoff: bool) -> ToolSpec | None:
    """The best-scoring tool, if it scores enough, or if it is the only tool the words name and
    one of them is telling. Otherwise a knowledge tool the words name (a general question)."""
    candidates = _pickable(tools)
    said = understood(said, candidates)
    scored = [
        (score(said, spec), spec) for spec in candidates if allow_handoff or not spec.is_handoff
    ]
    scored = [(points, spec) for points, spec in scored if points]
    if not scored:
        return None
    best_score, best = max(scored, key=lambda pair: pair[0])  # the first of equals
    if best_score >= MIN_SCORE:
        return best
    if len(scored) == 1 and _telling(said, best):
        return best  # "what's my balance": one word, but one only this tool knows
    return next((spec for _, spec in scored if is_knowledge(spec)), None)


def _telling(said: set[str], spec: ToolSpec) -> bool:
    """The words that name `spec` include one long and specific enough to go on alone."""
    named, described, _ = vocabulary(spec)
    return any(
        len(word) >= _FUZZY_MIN_LETTERS and word not in _VAGUE
        for word in said & (named | described)
    )


def clear_score(said: set[str], spec: ToolSpec, tools: Mapping[str, ToolSpec]) -> bool:
    """`spec` is named clearly enough to leave a question unanswered for it."""
    return score(understood(said, _pickable(tools)), spec) >= CLEAR_SCORE
