"""Fixtures for the ACS media socket and the realtime provider: a roster, tools, event sinks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from media.engine.events import Event
from media.engine.snapshot import AgentRoster, AgentSnapshot, ToolContext, ToolSpec, VoiceSpec


def make_roster() -> AgentRoster:
    balance = ToolSpec(
        name="get_account_balance",
        description="Look up the balance of the caller's account.",
        parameters={
            "type": "object",
            "properties": {"utterance": {"type": "string"}},
        },
    )
    to_fraud = ToolSpec(
        name="handoff_fraud_agent",
        description="Transfer the caller to the fraud specialist.",
        parameters={"type": "object", "properties": {"utterance": {"type": "string"}}},
        is_handoff=True,
        handoff_target="Fraud",
    )
    concierge = AgentSnapshot(
        name="Concierge",
        instructions="You are the bank concierge.",
        greeting="Hello, how can I help?",
        return_greeting="Welcome back.",
        voice=VoiceSpec(name="en-US-AvaNeural", rate="+10%"),
        tools=(balance, to_fraud),
        is_entry_point=True,
        realtime={
            "turn_detection": {"type": "azure_semantic_vad", "silence_duration_ms": 300},
            "input_audio_transcription": {"model": "azure-speech", "language": "en-US"},
        },
    )
    fraud = AgentSnapshot(
        name="Fraud",
        instructions="You handle fraud reports.",
        greeting="Fraud desk here.",
        voice=VoiceSpec(name="alloy"),
    )
    return AgentRoster(agents={a.name: a for a in (concierge, fraud)}, entry_agent="Concierge")


class RecordingToolRunner:
    """A ToolRunner returning canned results and recording what it ran (in worker threads)."""

    def __init__(self, results: dict[str, dict[str, Any]] | None = None) -> None:
        self.results = results or {}
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.threads: set[str] = set()

    def run(self, name: str, arguments: Any, context: ToolContext) -> dict[str, Any]:
        self.calls.append((name, dict(arguments), context.agent_name))
        self.threads.add(threading.current_thread().name)
        context.state["looked_up"] = True
        return self.results.get(name, {"success": True, "balance": "1234.56", "currency": "USD"})


class EventSink:
    """Collects emitted engine events; `wait_for` polls until a predicate holds."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if type(e) is kind]

    async def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        async with asyncio.timeout(timeout_s):
            while True:
                value = predicate()
                if value:
                    return value
                await asyncio.sleep(0.01)


@pytest.fixture
def roster() -> AgentRoster:
    return make_roster()


@pytest.fixture
def tool_runner() -> RecordingToolRunner:
    return RecordingToolRunner()


@pytest.fixture
def sink() -> EventSink:
    return EventSink()


class AsgiServer:
    """The project's ASGI application served by daphne on loopback (HTTP and WebSockets).

    Twisted's reactor runs once per process, so the server is started once per test session
    in a daemon thread; `url` is its http:// base URL.
    """

    def __init__(self) -> None:
        import threading

        from daphne.server import Server

        from voiceproject.asgi import application

        self.ready = threading.Event()
        self.server = Server(
            application=application,
            endpoints=["tcp:port=0:interface=127.0.0.1"],
            signal_handlers=False,
            ready_callable=self.ready.set,
            verbosity=0,
        )
        self.thread = threading.Thread(target=self.server.run, name="daphne-test", daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("daphne did not start")
        for _ in range(200):
            if self.server.listening_addresses:
                break
            self.ready.wait(0.01)
        host, port = self.server.listening_addresses[0]
        self.url = f"http://{host}:{port}"


_asgi_server: AsgiServer | None = None


@pytest.fixture
def asgi_server(transactional_db) -> AsgiServer:
    """A real server for the app (like `live_server`, but ASGI: the media socket works)."""
    global _asgi_server
    if _asgi_server is None:
        _asgi_server = AsgiServer()
    return _asgi_server
