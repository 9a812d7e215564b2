"""One spoken conversation against a running server, from fixtures to verdict.

:func:`play_conversation` creates the scenario's customer (fresh, with its known codes), opens
the transport (a simulated call record for the ACS media socket, or a new browser session),
plays the caller (:func:`converse`), hangs up, then reads what the server
stored (the metrics API with a staff token) and the cards' state, and judges it
(:mod:`bench.spoken.judge`). Used by `bench/spoken_conversations.py` and the e2e test.

The caller waits for the greeting to end, then for each turn waits until the agent is quiet,
thinks for a moment, speaks (or keys in digits) and notes when the answer's first audio
arrived; a turn marked `barge_in_after_ms` starts once the agent's previous answer has
talked that long without a break.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.spoken.client import (
    FRAME_S,
    QUIET_S,
    SAMPLE_RATE_HZ,
    AcsCaller,
    BrowserCaller,
    Caller,
    ConversationLog,
    TurnLog,
)
from bench.spoken.customers import FixtureDesk
from bench.spoken.judge import ConversationResult, judge
from bench.spoken.render import manifest_path, read_pcm
from bench.spoken.scenarios import Scenario

THINK_S = 0.3  # then the caller thinks this long: about 0.9 s after the last agent audio
ANSWER_TIMEOUT_S = 20.0
GREETING_TIMEOUT_S = 20.0
END_CALL_WAIT_S = 6.0  # how long a caller who said goodbye waits for the agent to hang up
MAX_REPLIES = 2  # answers to numbers read back, per turn
READ_BACK = re.compile(r"did you say ([\d ,.-]+)\?", re.IGNORECASE)
# A number read digit by digit in an answer that ends with a question ("I can't find a card
# ending in 2 2 5 4 on your account. What are its last four digits?"): a number heard wrong.
READ_IN_QUESTION = re.compile(r"\b(\d(?: \d){2,})\b")
ASKS_NAME = re.compile(r"\byour (?:full )?name\?", re.IGNORECASE)
TURN_BUDGET_S = 45.0  # the most one turn may take (speech, answer, pauses) before giving up
STORED_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Recording:
    """A scenario rendered in one voice: the manifest and the PCM of each spoken turn (by
    index) and of each reply to a number read back (by key: "yes", "digits:4817")."""

    voice: str
    scenario: str
    manifest: dict[str, Any]
    pcm_by_turn: dict[int | str, bytes]


def recording_load(out_dir: Path, voice: str, scenario: str) -> Recording:
    path = manifest_path(out_dir, voice, scenario)
    manifest = json.loads(path.read_text())
    pcm: dict[int | str, bytes] = {
        t["index"]: read_pcm(path.parent / t["file"]) for t in manifest["turns"] if t.get("file")
    }
    for key, reply in manifest.get("replies", {}).items():
        pcm[key] = read_pcm(path.parent / reply["file"])
    return Recording(voice, scenario, manifest, pcm)


def http_json(url: str, token: str = "", timeout_s: float = 10.0) -> tuple[int, dict[str, Any]]:
    """GET `url` (no proxy: loopback only); (status, body)."""
    request = urllib.request.Request(
        url, headers={"Authorization": f"Token {token}"} if token else {}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout_s) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


async def stored_session(base_url: str, session_id: str, token: str) -> dict[str, Any] | None:
    """The session's stored turns, once their count stops changing (the writer is async)."""
    url = f"{base_url}/api/v1/metrics/session/{session_id}?include_turns=true"
    last, loop = None, asyncio.get_running_loop()
    deadline = loop.time() + STORED_WAIT_S
    while loop.time() < deadline:
        status, body = await asyncio.to_thread(http_json, url, token)
        if status == 200:
            if last is not None and body.get("turn_count") == last.get("turn_count"):
                return body
            last = body
        await asyncio.sleep(0.5)
    return last


async def _spoken(caller: Caller, turn: TurnLog, frames: list, entry: dict) -> None:
    first, _ = await caller.speak(frames)
    origin = first - FRAME_S
    turn.true_start = origin + entry["speech_start_sample"] / SAMPLE_RATE_HZ
    turn.true_end = origin + entry["speech_end_sample"] / SAMPLE_RATE_HZ


async def _into_agent_speech(caller: Caller, since: float, speaking_s: float) -> None:
    """Wait until the agent has been talking for `speaking_s` without a break (a gap over
    100 ms), in audio that arrived after `since`: a caller interrupts the answer itself, not
    the "One moment." before it."""
    deadline = caller.loop.time() + ANSWER_TIMEOUT_S
    while caller.loop.time() < deadline and not caller.closed.is_set():
        run_start = last = None
        for frame in caller.log.audio:
            if frame.at <= since:
                continue
            if last is None or frame.at - last > 0.1:
                run_start = frame.at
            last = frame.at
        now = caller.loop.time()
        if last is not None and now - last < 0.1 and now - run_start >= speaking_s:
            return
        await asyncio.sleep(0.01)


async def reply_key(caller: Caller, since: float, meant: str | None) -> str | None:
    """The caller's reply to the agent's last answer after `since`: "name" when it asks for
    the caller's name, "yes" when it read back the number meant (`meant`, or any when None),
    "digits:<meant>" when it read back another; None when it asked neither."""
    said = await last_answer(caller, since)
    if said is None:
        return None
    if ASKS_NAME.search(said):
        return "name"
    found = READ_BACK.search(said)
    if found is None and said.rstrip().endswith("?"):
        found = READ_IN_QUESTION.search(said)
    if found is None:
        return None
    number = re.sub(r"\D", "", found.group(1))
    meant = meant or number
    return "yes" if number == meant else f"digits:{meant}"


async def last_answer(caller: Caller, since: float, wait_s: float = 1.0) -> str | None:
    """The text of the agent's last answer after `since`."""
    deadline = caller.loop.time() + wait_s
    while True:
        answers = [
            e.message["payload"]
            for e in caller.log.events
            if e.at > since and (e.message.get("payload") or {}).get("type") == "assistant"
        ]
        if answers or caller.loop.time() > deadline or caller.closed.is_set():
            break
        await asyncio.sleep(0.05)  # the answer's text may land just after its audio
    if not answers:
        return None
    return str(answers[-1].get("message") or "")


async def converse(
    caller: Caller,
    scenario: Scenario,
    manifest: dict,
    pcm_by_turn: dict[int | str, bytes],
    *,
    think_s: float = THINK_S,
    quiet_s: float = QUIET_S,
) -> ConversationLog:
    """Play `scenario` as the caller; the log has every turn's timing and what came back.

    When the agent reads a number back ("Did you say 4 8 1 7?", or a number in a question: "I
    can't find a card ending in 2 2 5 4 ... What are its last four digits?") the caller answers
    "Yes, that's right." or "No. It's ..." with the number the turn meant, and when it asks for
    the caller's name again, "My name is ...", before going on.
    """
    log = caller.log
    encoded = {key: caller.encode_turn(pcm) for key, pcm in pcm_by_turn.items()}
    greeting = await caller.wait_audio(after=0.0, timeout_s=GREETING_TIMEOUT_S)
    if greeting is None:
        log.error = "no greeting"
        return log
    log.greeting_at = greeting.at
    if isinstance(caller, AcsCaller):
        await caller.open_relay()
    await caller.wait_quiet(quiet_s)
    previous_answer: float | None = None
    turns = manifest["turns"]
    for position, entry in enumerate(turns):
        if caller.closed.is_set():
            break
        # A caller about to talk over the answer does not wait to hear it out.
        interrupts_next = position + 1 < len(turns) and "barge_in_after_ms" in turns[position + 1]
        turn = TurnLog(entry["index"], entry["text"], entry["dtmf"])
        log.turns.append(turn)
        barge_after = entry.get("barge_in_after_ms")
        if barge_after is not None and previous_answer is not None:
            turn.barge_in = True
            await _into_agent_speech(caller, previous_answer, barge_after / 1000)
        else:
            await caller.wait_quiet(quiet_s)
            await asyncio.sleep(think_s)
        turn.agent_speaking_at_start = caller.agent_quiet_for() < 0
        if entry["dtmf"]:
            turn.true_start = caller.loop.time()
            turn.true_end = await caller.key_in(entry["dtmf"])
        else:
            await _spoken(caller, turn, encoded[entry["index"]], entry)
        answer = await caller.wait_audio(after=turn.true_end, timeout_s=ANSWER_TIMEOUT_S)
        previous_answer = turn.first_audio_at = answer.at if answer else None
        for _ in range(0 if interrupts_next else MAX_REPLIES):
            if answer is None or caller.closed.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await caller.wait_quiet(quiet_s)
            key = await reply_key(caller, turn.true_end, entry.get("meant_digits"))
            if key is None or key not in manifest["replies"]:
                break
            reply = manifest["replies"][key]
            await asyncio.sleep(think_s)
            turn = TurnLog(entry["index"], reply["text"], "", reply_to=entry["index"])
            log.turns.append(turn)
            await _spoken(caller, turn, encoded[key], reply)
            answer = await caller.wait_audio(after=turn.true_end, timeout_s=ANSWER_TIMEOUT_S)
            previous_answer = turn.first_audio_at = answer.at if answer else None
    if not caller.closed.is_set():
        with contextlib.suppress(TimeoutError):
            await caller.wait_quiet(quiet_s)
    if scenario.ends_call and not caller.closed.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(caller.closed.wait(), END_CALL_WAIT_S)
    return log


async def play_conversation(
    *,
    base_url: str,
    desk: FixtureDesk,
    staff_token: str,
    scenario: Scenario,
    recording: Recording,
    transport: str,
) -> tuple[ConversationResult, ConversationLog]:
    """Play `scenario` in `recording`'s voice on `transport` ("acs" or "browser") and judge it."""
    ws_url = base_url.replace("http://", "ws://")
    client_id = ""
    if scenario.customer is not None:
        c = scenario.customer
        created = await asyncio.to_thread(
            desk.ask, "customer", full_name=c.full_name, email=c.email, ssn_last4=c.ssn_last4,
            credit_last4=c.credit_last4, debit_last4=c.debit_last4,
        )  # fmt: skip
        client_id = created["client_id"]
    call: dict[str, Any] = {}
    if transport == "acs":
        call = await asyncio.to_thread(desk.ask, "call")
        session_id = call["session_id"]
    else:
        session_id = f"spoken_{scenario.key}_{recording.voice}_{secrets.token_hex(3)}"
    log = ConversationLog(transport, recording.voice, scenario.key, session_id, client_id)
    caller = None
    try:
        if transport == "acs":
            caller = await AcsCaller.open(
                log,
                base_url=ws_url,
                call_connection_id=call["call_connection_id"],
                token=call["token"],
                staff_token=staff_token,
            )
        else:
            caller = await BrowserCaller.open(log, base_url=ws_url)
        budget = 30 + TURN_BUDGET_S * len(scenario.turns)
        await asyncio.wait_for(
            converse(caller, scenario, recording.manifest, recording.pcm_by_turn), budget
        )
    except TimeoutError:
        log.error = "conversation took too long"
    except OSError as exc:
        log.error = f"socket: {exc}"
    finally:
        if caller is not None:
            await caller.hang_up()
        if call:
            await asyncio.to_thread(
                desk.ask, "call_end", call_connection_id=call["call_connection_id"]
            )
    stored = await stored_session(base_url, session_id, staff_token)
    cards = None
    if client_id:
        cards = (await asyncio.to_thread(desk.ask, "state", client_id=client_id))["cards"]
    return judge(log, scenario, stored, cards), log
