"""Two server processes behind HAProxy (`manage.py serve`), as in production.

Phone calls (a simulated ACS on the media socket) and browser conversations go through the
load balancer and are spread over both processes; readiness keeps new calls off a process at
its `READY_MAX_SESSIONS`; a dashboard on one process sees the other's calls; then one process
is killed mid-call: the other's calls go on, the killed one's end as disconnected with their
turns stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time

import pytest

from bench.spoken.client import AcsCaller, BrowserCaller, Caller, ConversationLog
from bench.spoken.customers import FixtureDesk
from tests.deploy.conftest import http_json, serve_start

pytestmark = [pytest.mark.deploy, pytest.mark.services, pytest.mark.timeout(360)]

MAX_SESSIONS = 3
QUESTION = "What can you help me with?"
TURN_TIMEOUT_S = 45.0
SWEEP_TIMEOUT_S = 30.0


def utterance_pcm(workdir, text: str) -> bytes:
    """`text` spoken by espeak-ng: 16 kHz mono PCM16, with 0.3 s of silence after it."""
    wav, raw = workdir / "utterance.wav", workdir / "utterance.raw"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed",
                    "-t", "raw", str(raw), "pad", "0", "0.3"], check=True)  # fmt: skip
    return raw.read_bytes()


def spoken_turns(stored: dict) -> list[tuple[int, str]]:
    """(number, caller's words) of a stored session's turns that answered the caller."""
    return [(t["turn_number"], t["user_text"]) for t in stored["turns"] if t["user_text"]]


class Dashboard:
    """The dashboard relay of every session (staff), on one process: envelopes by session."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.by_session: dict[str, list[dict]] = {}
        self.changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import json

        with contextlib.suppress(Exception):
            async for message in self.ws:
                envelope = json.loads(message)
                if envelope.get("session_id"):
                    self.by_session.setdefault(envelope["session_id"], []).append(envelope)
                    self.changed.set()

    async def _until(self, seen) -> None:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            while not seen():
                self.changed.clear()
                await self.changed.wait()

    def turns_seen(self, session_id: str) -> int:
        return sum(1 for e in self.by_session.get(session_id, []) if e["type"] == "turn_metrics")

    def event_kinds(self, session_id: str) -> set[str]:
        envelopes = self.by_session.get(session_id, [])
        return {e["payload"].get("type") for e in envelopes if e["type"] == "event"}

    async def wait_events(self, session_id: str, kinds: set[str]) -> None:
        """Until the session's events of `kinds` were seen (an answer's text comes once it
        has been played)."""
        await self._until(lambda: kinds <= self.event_kinds(session_id))

    async def wait_turns(self, session_id: str, count: int) -> None:
        await self._until(lambda: self.turns_seen(session_id) >= count)


class Scenario:
    def __init__(self, served, desk: FixtureDesk, pcm: bytes) -> None:
        self.served = served
        self.desk = desk
        self.pcm = pcm
        self.staff_token = desk.ask("staff_token")["token"]
        self.callers: list[Caller] = []
        self.calls: dict[str, str] = {}  # session id -> call connection id

    async def acs_call(self, base_url: str) -> AcsCaller:
        call = await asyncio.to_thread(self.desk.ask, "call")
        log = ConversationLog("acs", "espeak", "deploy", call["session_id"])
        caller = await AcsCaller.open(
            log,
            base_url=base_url.replace("http://", "ws://"),
            call_connection_id=call["call_connection_id"],
            token=call["token"],
            staff_token=self.staff_token,
        )
        self.calls[call["session_id"]] = call["call_connection_id"]
        return await self._greeted(caller)

    async def browser(self, base_url: str, name: str) -> BrowserCaller:
        log = ConversationLog("browser", "espeak", "deploy", f"deploy_{name}_{os.getpid()}")
        caller = await BrowserCaller.open(log, base_url=base_url.replace("http://", "ws://"))
        return await self._greeted(caller)

    async def browser_resume(self, base_url: str, earlier: BrowserCaller) -> BrowserCaller:
        """`earlier`'s session again, on a new socket presenting its session token."""
        log = ConversationLog("browser", "espeak", "deploy", earlier.log.session_id)
        caller = await BrowserCaller.open(
            log, base_url=base_url.replace("http://", "ws://"), session_token=earlier.session_token
        )
        return await self._greeted(caller)

    async def _greeted(self, caller: Caller) -> Caller:
        self.callers.append(caller)
        assert await caller.wait_audio(after=0.0, timeout_s=30) is not None, "no greeting"
        return caller

    async def speak(self, caller: Caller) -> None:
        await caller.wait_quiet()
        await caller.speak(caller.encode_turn(self.pcm))

    def holder(self, session_id: str) -> str:
        """The server process holding a conversation, as each process reports its own."""
        for name in ("web.1", "web.2"):
            _, status = http_json(f"{self.served.server_url(name)}/api/v1/media/status")
            calls = status["active_media_sessions"]["calls"]
            if any(c["session_id"] == session_id for c in calls):
                return name
        raise AssertionError(f"no process holds call {session_id}")

    def sessions_open(self, name: str) -> dict:
        _, health = http_json(f"{self.served.server_url(name)}/api/v1/health")
        return health["session_metrics"]

    def stored(self, base_url: str, session_id: str) -> dict:
        url = f"{base_url}/api/v1/metrics/session/{session_id}?include_turns=true"
        status, body = http_json(url, self.staff_token)
        assert status == 200, body
        return body

    def call(self, base_url: str, session_id: str) -> dict:
        _, body = http_json(f"{base_url}/api/v1/calls/?limit=100", self.staff_token)
        return next(c for c in body["calls"] if c["call_connection_id"] == self.calls[session_id])


def test_two_processes_behind_the_load_balancer_share_calls_and_survive_a_kill(deploy_stack):
    pcm = utterance_pcm(deploy_stack.workdir, QUESTION)
    served = serve_start(deploy_stack, processes=2, env={"READY_MAX_SESSIONS": str(MAX_SESSIONS)})
    desk = FixtureDesk(deploy_stack.env())
    try:
        asyncio.run(_scenario(Scenario(served, desk, pcm)))
    except BaseException:
        print(served.log(20000))
        raise
    finally:
        desk.close()
        served.stop()
    # Stopped as a whole: no process of the topology is left running.
    assert not any(p["running"] for p in served.processes().values())


async def _scenario(s: Scenario) -> None:
    served = s.served
    lb = served.url
    web1 = served.server_url("web.1")
    from websockets.asyncio.client import connect

    dashboard = Dashboard(
        await connect(
            f"{web1.replace('http://', 'ws://')}/api/v1/browser/dashboard/relay",
            additional_headers={"Origin": web1, "Authorization": f"Token {s.staff_token}"},
            proxy=None,
        )
    )

    # web.1 holds READY_MAX_SESSIONS conversations opened on it directly: it answers readiness
    # 503, HAProxy takes it out, and the calls that come through the load balancer go to web.2.
    direct = [await s.browser(web1, f"direct{i}") for i in range(MAX_SESSIONS)]
    served.wait_backends({"web.1": "DOWN", "web.2": "UP"})
    _, readiness = await asyncio.to_thread(http_json, f"{web1}/api/v1/readiness")
    assert "READY_MAX_SESSIONS" in readiness["reason"]
    a1 = await s.acs_call(lb)
    a2 = await s.acs_call(lb)
    b3 = await s.browser(lb, "b3")
    assert {s.holder(a1.log.session_id), s.holder(a2.log.session_id)} == {"web.2"}
    assert s.sessions_open("web.2")["browser"] == 1  # b3
    served.wait_backends({"web.1": "DOWN", "web.2": "DOWN"})  # both full now

    # Two direct conversations end: web.1 is back, and takes the next calls (web.2 is full).
    for caller in direct[1:]:
        await caller.hang_up()
    served.wait_backends({"web.1": "UP", "web.2": "DOWN"})
    a3 = await s.acs_call(lb)
    b4 = await s.browser(lb, "b4")
    assert s.holder(a3.log.session_id) == "web.1"
    assert s.sessions_open("web.1") | s.sessions_open("web.2") and (
        s.sessions_open("web.1")["browser"] == 2 and s.sessions_open("web.2")["browser"] == 1
    )
    on_web1 = [direct[0], a3, b4]
    on_web2 = [a1, a2, b3]

    # Every conversation takes a turn; the dashboard on web.1 sees web.2's as they happen.
    everyone = on_web1 + on_web2
    await asyncio.gather(*(s.speak(caller) for caller in everyone))
    await asyncio.gather(*(dashboard.wait_turns(c.log.session_id, 1) for c in everyone))
    await asyncio.gather(
        *(dashboard.wait_events(c.log.session_id, {"user", "assistant"}) for c in on_web2)
    )
    _, listed = await asyncio.to_thread(http_json, f"{web1}/api/v1/metrics/sessions", s.staff_token)
    active = {row["session_id"] for row in listed["sessions"] if row["status"] == "active"}
    assert {c.log.session_id for c in on_web1 + on_web2} <= active

    # web.2 is killed while a caller is talking to it.
    answered = {c.log.session_id: dashboard.turns_seen(c.log.session_id) for c in on_web2}
    web2_pid = served.processes()["web.2"]["pid"]
    await s.speak(a1)
    os.kill(web2_pid, signal.SIGKILL)
    for caller in on_web2:
        async with asyncio.timeout(10):
            await caller.closed.wait()

    # web.1's calls go on: their sockets stayed open and they are answered.
    assert not any(caller.closed.is_set() for caller in on_web1)
    await asyncio.gather(*(s.speak(caller) for caller in on_web1))
    await asyncio.gather(*(dashboard.wait_turns(c.log.session_id, 2) for c in on_web1))

    # web.2's conversations end as disconnected, with the turns they had; its calls too.
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    for caller in on_web2:
        session_id = caller.log.session_id
        while (stored := await asyncio.to_thread(s.stored, web1, session_id))["status"] == "active":
            assert time.monotonic() < deadline, f"{session_id} still active:\n{served.log()}"
            await asyncio.sleep(0.5)
        assert stored["status"] == "disconnected"
        assert stored["turn_count"] >= answered[session_id] >= 1
        assert any(turn["user_text"] and turn["assistant_text"] for turn in stored["turns"])
    for caller in (a1, a2):
        call = await asyncio.to_thread(s.call, web1, caller.log.session_id)
        assert call["status"] == "disconnected"
        assert "stopped" in call["disconnect_reason"]
    for caller in on_web1:
        assert (await asyncio.to_thread(s.stored, web1, caller.log.session_id))[
            "status"
        ] == "active"
    assert (await asyncio.to_thread(s.call, web1, a3.log.session_id))["status"] == "connected"

    # The supervisor restarts the killed process; HAProxy takes it back.
    served.wait_backends({"web.2": "UP"}, timeout_s=60)
    assert served.processes()["web.2"]["restarts"] == 1

    # The browser page that was on the killed process reconnects with its session token and
    # resumes its conversation on the restarted process (web.1 is still full): its agent and
    # history, the turns numbered on from the stored ones.
    b3_id = b3.log.session_id
    spoken_before = spoken_turns(await asyncio.to_thread(s.stored, web1, b3_id))
    again = await s.browser_resume(lb, b3)
    assert again.status_event("agent_ready")["resumed"] is True
    assert s.sessions_open("web.2")["browser"] == 1
    await s.speak(again)
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while len(spoken_turns(stored := await asyncio.to_thread(s.stored, web1, b3_id))) <= len(
        spoken_before
    ):
        assert time.monotonic() < deadline, f"{b3_id}: no answer after resuming"
        await asyncio.sleep(0.5)
    assert stored["status"] == "active"
    numbers = [turn["turn_number"] for turn in stored["turns"]]
    assert numbers == list(range(1, len(numbers) + 1))  # numbered on from the stored ones
    assert spoken_turns(stored)[: len(spoken_before)] == spoken_before
    await again.hang_up()

    for caller in on_web1:
        await caller.hang_up()
    await dashboard.ws.close()
    dashboard.task.cancel()
