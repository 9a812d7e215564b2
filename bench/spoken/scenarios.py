"""Spoken banking conversations: what a caller says, and what must happen for the call to count.

Each scenario is a multi-turn call to the shipped agents (`agentbuilder/library/agents/`). A
caller turn is text with its mid-sentence pauses marked by "|" (120-360 ms of silence each,
rendered by `bench.spoken.render`), or keypad digits (`dtmf`). Digits are spoken as words, zero
as "oh", the way people read a number out. What must happen is stated per scenario: the tool
calls (names, the arguments that matter, success), whether the caller ends up verified, the
agents handed over to, the agent at the end, the cards' final state in the database, and
whether the agent ends the call.

Every scenario has its own demo customer (name, SSN last four, card numbers), created before
each conversation with exactly these codes (`bench.spoken.customers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PAUSE_MARK = "|"
# Default pause at the n-th mark of a scenario (ms): varied, always 120-360.
PAUSE_CYCLE_MS = (240, 360, 160, 320, 120, 280, 200)
DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
# How the caller reads a number back: zero as "oh", as people do.
DIGIT_NAMES = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True, slots=True)
class Customer:
    """A demo customer with known codes (the caller's identity)."""

    full_name: str
    ssn_last4: str
    credit_last4: str
    debit_last4: str

    @property
    def email(self) -> str:
        return f"{self.full_name.lower().replace(' ', '.')}@spoken-bench.example.com"


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """One thing the caller says (or keys in).

    `text`: words with "|" where the caller pauses mid-sentence. `dtmf`: keypad digits sent
    instead of speech ('#' ends them). `barge_in_after_ms`: the caller starts this turn once
    the agent's answer to the previous one has been talking that long without a break,
    instead of waiting for it to finish.
    """

    text: str = ""
    dtmf: str = ""
    pauses_ms: tuple[int, ...] = ()
    barge_in_after_ms: int | None = None

    @property
    def segments(self) -> list[str]:
        return [" ".join(part.split()) for part in self.text.split(PAUSE_MARK) if part.strip()]

    @property
    def spoken(self) -> str:
        """The words said, without pause marks."""
        return " ".join(self.segments)

    @property
    def is_speech(self) -> bool:
        return bool(self.segments)


@dataclass(frozen=True, slots=True)
class ToolExpectation:
    """A tool call that must happen. `arguments` is a subset: digit strings are compared as
    digits, other text case-insensitively. `agent`: the agent that must run it, when it
    matters."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    success: bool = True
    agent: str = ""


@dataclass(frozen=True, slots=True)
class CardState:
    """A card's state after the call: its status and whether a replacement was shipped."""

    last4: str
    status: str
    replaced: bool = False
    expedited: bool | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    customer: Customer | None
    turns: tuple[CallerTurn, ...]
    tools: tuple[ToolExpectation, ...] = ()  # in this order; other calls may come between
    verified: bool = False  # verified as `customer` (its client id) during the call
    handoffs: tuple[str, ...] = ()  # agents handed to, in this order
    final_agent: str = ""
    cards: tuple[CardState, ...] = ()
    ends_call: bool = False  # the agent ends the call after the caller's goodbye

    def replies(self) -> dict[str, CallerTurn]:
        """What the caller says when the agent reads a number back ("Did you say 4 8 1 7?"):
        "yes" when it heard right, else "digits:<the number meant>" says it again; and "name"
        when it asks for the caller's name again."""
        out = {"yes": CallerTurn("Yes, | that's right.")}
        if self.customer is not None:
            out["name"] = CallerTurn(f"My name is {self.customer.full_name}.")
        for turn in self.turns:
            meant = meant_digits(turn)
            if meant:
                words = " ".join(DIGIT_NAMES[int(d)] for d in meant)
                out[f"digits:{meant}"] = CallerTurn(f"No. | It's {words}.")
        return out

    def pauses(self) -> list[list[int]]:
        """The pause (ms) at each mark of each turn: the turn's own, else the default cycle."""
        out, n = [], 0
        for turn in self.turns:
            marks = max(0, len(turn.segments) - 1)
            if turn.pauses_ms:
                if len(turn.pauses_ms) != marks:
                    raise ValueError(f"{self.key}: {marks} pause marks, {turn.pauses_ms}")
                out.append(list(turn.pauses_ms))
            else:
                out.append([PAUSE_CYCLE_MS[(n + i) % len(PAUSE_CYCLE_MS)] for i in range(marks)])
            n += marks
        return out


def meant_digits(turn: CallerTurn) -> str:
    """The number a turn gives: its keypad digits, else the last one it says (a caller who
    corrects himself means the second)."""
    if turn.dtmf:
        return turn.dtmf.replace("#", "").replace("*", "")
    runs = spoken_digits(turn.spoken)
    return runs[-1] if runs else ""


def spoken_digits(text: str) -> list[str]:
    """Digit strings said as words ("four eight one seven" → "4817"), three or more in a row."""
    runs, current = [], []
    for word in re.findall(r"[a-z']+|\d+", text.lower()):
        if word in DIGIT_WORDS:
            current.append(DIGIT_WORDS[word])
            continue
        if len(current) >= 3:
            runs.append("".join(current))
        current = []
    if len(current) >= 3:
        runs.append("".join(current))
    return runs


def _verify(ssn: str, agent: str = "Concierge") -> ToolExpectation:
    """Verification with these SSN digits. The name is not compared as text: a tool that
    matches a misheard name ("David Drown") to the caller does its job; `Scenario.verified`
    checks that the caller was verified as the scenario's own customer."""
    return ToolExpectation("verify_client_identity", {"ssn_last_4": ssn}, agent=agent)


ALICE = Customer("Alice Johnson", "4817", "3392", "5160")
ROBERT = Customer("Robert Miller", "2093", "7714", "6028")
DAVID = Customer("David Brown", "7305", "2250", "9471")
SARAH = Customer("Sarah Wilson", "1964", "4583", "8306")
MARIA = Customer("Maria Garcia", "5526", "1179", "3048")
JAMES = Customer("James Taylor", "8024", "6631", "2907")
EMILY = Customer("Emily Clark", "2450", "8815", "4172")
THOMAS = Customer("Thomas Moore", "6139", "5047", "7720")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        key="balance",
        title="verify with name and SSN digits, then the account balances",
        customer=ALICE,
        turns=(
            CallerTurn(
                "Hi, my name is Alice Johnson | and the last four digits of my social are | "
                "four eight one seven"
            ),
            CallerTurn("Thanks. | What is the balance on my accounts?"),
        ),
        tools=(_verify("4817"), ToolExpectation("get_account_summary")),
        verified=True,
        final_agent="Concierge",
    ),
    Scenario(
        key="transactions",
        title="recent transactions, interrupted by a balance question",
        customer=ROBERT,
        turns=(
            CallerTurn(
                "Hello, this is Robert Miller. | The last four of my social security number | "
                "are two oh nine three."
            ),
            CallerTurn("Can you tell me my recent transactions?"),
            CallerTurn("Sorry, | what is my balance?", barge_in_after_ms=1200),
        ),
        tools=(
            _verify("2093"),
            ToolExpectation("get_recent_transactions"),
            ToolExpectation("get_account_summary"),
        ),
        verified=True,
        final_agent="Concierge",
    ),
    Scenario(
        key="lost_card",
        title="a lost credit card: handoff to fraud, reported lost, replacement shipped",
        customer=DAVID,
        turns=(
            CallerTurn(
                "Hi, my name is David Brown, | and the last four digits of my social are | "
                "seven three oh five."
            ),
            CallerTurn("I think I lost my credit card, | the one ending in two two five oh."),
            CallerTurn("Yes please, | send me a replacement card."),
        ),
        tools=(
            _verify("7305"),
            ToolExpectation(
                "report_lost_stolen_card",
                {"lost_or_stolen": "lost", "card_last4": "2250"},
                agent="FraudAgent",
            ),
            ToolExpectation("ship_replacement_card", agent="FraudAgent"),
        ),
        verified=True,
        handoffs=("FraudAgent",),
        final_agent="FraudAgent",
        cards=(CardState("2250", "lost", replaced=True), CardState("9471", "active")),
    ),
    Scenario(
        key="stolen_card",
        title="a stolen debit card before verifying: handoff, verify, report, express card",
        customer=SARAH,
        turns=(
            CallerTurn("Someone stole my debit card | and I need help right away."),
            CallerTurn("My name is Sarah Wilson | and the last four digits are one nine six four."),
            CallerTurn("My debit card ending in eight three oh six | was stolen yesterday."),
            CallerTurn("Please ship a replacement card | by express delivery."),
        ),
        tools=(
            _verify("1964", agent="FraudAgent"),
            ToolExpectation(
                "report_lost_stolen_card",
                {"lost_or_stolen": "stolen", "card_last4": "8306"},
                agent="FraudAgent",
            ),
            ToolExpectation("ship_replacement_card", {"expedited": True}, agent="FraudAgent"),
        ),
        verified=True,
        handoffs=("FraudAgent",),
        final_agent="FraudAgent",
        cards=(
            CardState("8306", "stolen", replaced=True, expedited=True),
            CardState("4583", "active"),
        ),
    ),
    Scenario(
        key="opening_hours",
        title="opening hours, no verification needed",
        customer=THOMAS,
        turns=(
            CallerTurn("Hi there. | What are your opening hours | on Saturday?"),
            CallerTurn("Okay, | thanks a lot."),
        ),
        tools=(ToolExpectation("search_knowledge_base"),),
        verified=False,
    ),
    Scenario(
        key="goodbye",
        title="balance, then a goodbye that ends the call",
        customer=MARIA,
        turns=(
            CallerTurn(
                "Good morning. | My name is Maria Garcia | and my last four are five five two six."
            ),
            CallerTurn("How much money | is in my savings account?"),
            CallerTurn("No, that's everything. | Thank you, goodbye."),
        ),
        tools=(_verify("5526"), ToolExpectation("get_account_summary")),
        verified=True,
        final_agent="Concierge",
        ends_call=True,
    ),
    Scenario(
        key="correction",
        title="the caller corrects his SSN digits mid-sentence",
        customer=JAMES,
        turns=(
            CallerTurn(
                "My name is James Taylor | and the last four digits are eight oh four two, | "
                "sorry, no, | eight oh two four."
            ),
            CallerTurn("Could you read me | my latest transactions?"),
        ),
        tools=(_verify("8024"), ToolExpectation("get_recent_transactions")),
        verified=True,
        final_agent="Concierge",
    ),
    Scenario(
        key="keypad",
        title="balance; the SSN keyed in on the phone's keypad",
        customer=EMILY,
        turns=(
            CallerTurn("Hi, | I'd like to check my account balance."),
            CallerTurn("My name is Emily Clark."),
            CallerTurn(dtmf="2450#"),
            CallerTurn("So | what is my balance?"),
        ),
        tools=(_verify("2450"), ToolExpectation("get_account_summary")),
        verified=True,
        final_agent="Concierge",
    ),
)

BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}


def scenarios_get(keys: list[str] | None = None) -> list[Scenario]:
    """The scenarios named by `keys` (all when empty), in the order given."""
    if not keys:
        return list(SCENARIOS)
    unknown = [key for key in keys if key not in BY_KEY]
    if unknown:
        raise KeyError(f"unknown scenarios {unknown}; known: {', '.join(BY_KEY)}")
    return [BY_KEY[key] for key in keys]
