"""Judge a played conversation as the caller would: was I understood, was my task done, how
long did I wait.

Inputs: the client's :class:`~bench.spoken.client.ConversationLog` (socket events: the browser
socket's, or for ACS its session's dashboard relay), the session's turns stored by the server
(`GET /api/v1/metrics/session/<id>?include_turns=true`) and the cards' state in the database.

Transcripts are compared after one normalization on both sides: lowercase, apostrophes
dropped, punctuation gone, every digit its own word ("4817" → "four eight one seven"), "oh"
and "o" → "zero", "ok" → "okay". The server's user finals are assigned to the caller turn
during which (or after which, before the next turn) they arrived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bench.spoken.client import ConversationLog, TurnLog
from bench.spoken.scenarios import Scenario, ToolExpectation, spoken_digits

_DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_WORD_MAP = {"oh": "zero", "o": "zero", "ok": "okay"}
_DIGIT_OF = {name: str(i) for i, name in enumerate(_DIGIT_NAMES)}
STALE_SLACK_S = 0.3  # an ACS frame this soon after the caller's end can't be the next answer


def normalize(text: str) -> list[str]:
    words = []
    for token in re.findall(r"[a-z]+|\d", text.lower().replace("'", "").replace("’", "")):
        if token.isdigit():
            words.append(_DIGIT_NAMES[int(token)])
        else:
            words.append(_WORD_MAP.get(token, token))
    return words


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def heard_digits(words: list[str]) -> str:
    return "".join(_DIGIT_OF[w] for w in words if w in _DIGIT_OF)


@dataclass
class TurnResult:
    index: int
    said: str
    heard: str
    dtmf: bool = False
    ref_words: int = 0
    edits: int = 0
    digits: list[tuple[str, bool]] = field(default_factory=list)
    names: list[tuple[str, bool]] = field(default_factory=list)
    client_ms: float | None = None  # true end of speech → first agent audio
    server_ms: float | None = None  # the server's first_audio_ms for the answer
    talked_over_frames: int = 0


@dataclass
class BargeInResult:
    stop_ms: float | None  # true onset → first stop; None: no stop came
    stale_frames: int
    agent_was_speaking: bool
    resumed: bool = False


@dataclass
class ConversationResult:
    transport: str
    voice: str
    scenario: str
    session_id: str
    turns: list[TurnResult]
    checks: list[tuple[str, bool, str]]
    barge_in: BargeInResult | None
    error: str = ""

    @property
    def task_done(self) -> bool:
        return not self.error and all(ok for _, ok, _ in self.checks)

    def failures(self) -> list[str]:
        out = [f"{name}: {detail}" for name, ok, detail in self.checks if not ok]
        return ([self.error] if self.error else []) + out


def _payload(message: dict[str, Any]) -> dict[str, Any]:
    payload = message.get("payload")
    return payload if isinstance(payload, dict) else {}


def _user_finals(log: ConversationLog) -> list[tuple[float, dict[str, Any]]]:
    return [
        (e.at, _payload(e.message))
        for e in log.events
        if _payload(e.message).get("type") == "user" and e.message.get("type") == "event"
    ]


def _windows(log: ConversationLog) -> list[tuple[TurnLog, float, float]]:
    turns = [t for t in log.turns if t.true_start is not None]
    out = []
    for i, turn in enumerate(turns):
        end = turns[i + 1].true_start if i + 1 < len(turns) else float("inf")
        out.append((turn, turn.true_start, end))
    return out


def judge_turns(log: ConversationLog, scenario: Scenario) -> list[TurnResult]:
    finals = _user_finals(log)
    metrics = {
        _payload(e.message).get("turn_id"): _payload(e.message)
        for e in log.events
        if e.message.get("type") == "turn_metrics"
    }
    name = scenario.customer.full_name if scenario.customer else ""
    results = []
    for turn, start, end in _windows(log):
        mine = [p for at, p in finals if start <= at < end]
        heard = " ".join(str(p.get("message") or "") for p in mine).strip()
        result = TurnResult(turn.index, turn.text or turn.dtmf, heard, dtmf=bool(turn.dtmf))
        hyp = normalize(heard)
        if turn.dtmf:
            want = turn.dtmf.replace("#", "")
            result.digits.append((want, heard_digits(hyp) == want))
        else:
            ref = normalize(turn.text)
            result.ref_words, result.edits = len(ref), edit_distance(ref, hyp)
            got = heard_digits(hyp)
            result.digits = [(run, run in got) for run in spoken_digits(turn.text)]
            if name and name.lower() in turn.text.lower():
                parts = normalize(name)
                result.names.append((name, all(p in hyp for p in parts)))
        answer_turn = mine[-1].get("turn_id") if mine else None
        first = turn.first_audio_at
        if log.transport == "browser" and answer_turn is not None:
            first = next(
                (a.at for a in log.audio if a.turn_id == answer_turn and a.at > turn.true_end),
                first,
            )
        if first is not None and not turn.dtmf:
            result.client_ms = (first - turn.true_end) * 1000
        server = metrics.get(answer_turn, {}).get("first_audio_ms")
        result.server_ms = float(server) if server is not None else None
        if not turn.barge_in and not turn.dtmf:
            result.talked_over_frames = sum(
                1 for a in log.audio if turn.true_start + 0.05 < a.at < turn.true_end
            )
        results.append(result)
    return results


def judge_barge_in(log: ConversationLog) -> BargeInResult | None:
    turn = next((t for t in log.turns if t.barge_in and t.true_start is not None), None)
    if turn is None:
        return None
    stop = next((s for s in log.stops if s.at >= turn.true_start), None)
    speaking = turn.agent_speaking_at_start
    if stop is None:
        return BargeInResult(None, 0, speaking)
    if log.transport == "browser" and stop.turn_id is not None:
        cancelled = any(
            e.message.get("action") == "tts_cancelled" and e.message.get("turn_id") == stop.turn_id
            for e in log.events
        )
        stale = sum(1 for a in log.audio if a.turn_id == stop.turn_id and a.at > stop.at)
        return BargeInResult((stop.at - turn.true_start) * 1000, stale if cancelled else 0,
                             speaking, resumed=not cancelled and stale > 0)  # fmt: skip
    stale = sum(1 for a in log.audio if stop.at < a.at <= turn.true_end + STALE_SLACK_S)
    return BargeInResult((stop.at - turn.true_start) * 1000, stale, speaking)


# --- task completion --------------------------------------------------------------------------


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    agent: str
    status: str
    result: dict[str, Any]


def observed_tools(log: ConversationLog) -> list[ToolCall]:
    calls: dict[str, ToolCall] = {}
    for event in log.events:
        m = event.message
        if m.get("type") == "tool_start":
            args = m.get("arguments") if isinstance(m.get("arguments"), dict) else {}
            calls[m.get("call_id")] = ToolCall(m.get("tool", ""), args, m.get("agent", ""), "", {})
        elif m.get("type") == "tool_end" and m.get("call_id") in calls:
            call = calls[m["call_id"]]
            call.status = m.get("status", "")
            call.result = m.get("result") if isinstance(m.get("result"), dict) else {}
    return list(calls.values())


def _argument_matches(want: Any, got: Any) -> bool:
    if isinstance(want, bool):
        return got is want or str(got).lower() == str(want).lower()
    want_s = str(want)
    if want_s.isdigit():
        return re.sub(r"\D", "", str(got)) == want_s
    return str(got).strip().casefold() == want_s.casefold()


def _describe(call: ToolCall) -> str:
    return f"{call.name}({call.arguments}) by {call.agent or '?'}: {call.status or 'no end'}"


def _match(expectation: ToolExpectation, call: ToolCall) -> bool:
    if call.name != expectation.name:
        return False
    if expectation.success and call.status != "success":
        return False
    if expectation.agent and call.agent and call.agent != expectation.agent:
        return False
    return all(
        key in call.arguments and _argument_matches(value, call.arguments[key])
        for key, value in expectation.arguments.items()
    )


def check_task(
    log: ConversationLog,
    scenario: Scenario,
    stored: dict[str, Any] | None,
    cards: list[dict[str, Any]] | None,
) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) for every expectation of `scenario`."""
    checks: list[tuple[str, bool, str]] = []
    calls = observed_tools(log)
    stored_turns = (stored or {}).get("turns") or []
    stored_tools = [(t.get("name"), t.get("status")) for s in stored_turns
                    for t in s.get("tool_calls") or []]  # fmt: skip
    position = 0
    for want in scenario.tools:
        found = next((i for i in range(position, len(calls)) if _match(want, calls[i])), None)
        label = f"tool {want.name}" + (f" {dict(want.arguments)}" if want.arguments else "")
        if found is not None:
            checks.append((label, True, ""))
            position = found + 1
            continue
        if not calls and (want.name, "success") in stored_tools and not want.arguments:
            checks.append((label, True, "from the stored turns"))
            continue
        seen = [_describe(c) for c in calls if c.name == want.name] or [c.name for c in calls]
        checks.append((label, False, f"seen: {seen or 'no tool calls'}"))
    if scenario.verified:
        verified_as = [
            c.result.get("client_id")
            for c in calls
            if c.name == "verify_client_identity" and c.result.get("verified") is True
        ]
        ok = bool(log.client_id) and log.client_id in verified_as
        checks.append(("verified", ok, f"as {verified_as or 'nobody'}, not {log.client_id}"))
    changes = [
        _payload(e.message).get("agent_name")
        for e in log.events
        if _payload(e.message).get("event_type") == "agent_change"
    ]
    if not changes and stored:
        changes = [a for a in stored.get("agents_visited") or [] if a != "Concierge"]
    it = iter(changes)
    ok = all(any(agent == want for agent in it) for want in scenario.handoffs)
    if scenario.handoffs:
        checks.append(("handoffs " + ",".join(scenario.handoffs), ok, f"seen: {changes}"))
    if scenario.final_agent:
        final = changes[-1] if changes else (stored or {}).get("active_agent") or "Concierge"
        ok = final == scenario.final_agent
        checks.append((f"final agent {scenario.final_agent}", ok, f"was {final}"))
    by_last4 = {c["last4"]: c for c in cards or []}
    for want in scenario.cards:
        got = by_last4.get(want.last4)
        ok = (
            got is not None
            and got["status"] == want.status
            and got["replaced"] == want.replaced
            and (want.expedited is None or got["expedited"] == want.expedited)
        )
        checks.append((f"card {want.last4} {want.status}", ok, f"was {got}"))
    if scenario.ends_call:
        checks.append(("agent ended the call", log.ended_by_server, "the caller hung up"))
    return checks


def judge(
    log: ConversationLog,
    scenario: Scenario,
    stored: dict[str, Any] | None,
    cards: list[dict[str, Any]] | None,
) -> ConversationResult:
    return ConversationResult(
        transport=log.transport,
        voice=log.voice,
        scenario=scenario.key,
        session_id=log.session_id,
        turns=judge_turns(log, scenario),
        checks=check_task(log, scenario, stored, cards),
        barge_in=judge_barge_in(log),
        error=log.error,
    )
