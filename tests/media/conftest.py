"""Fixtures for the speech engine: a small roster, fake providers and a session harness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from media.engine.audio import frame_bytes, silence, tone
from media.engine.config import EngineConfig
from media.engine.events import AudioFrame, BargeIn, Event
from media.engine.session import ConversationSession
from media.engine.snapshot import AgentRoster, AgentSnapshot, ToolContext, ToolSpec
from media.providers import ProviderSet
from media.providers.fakes import EnergyVAD, FakeTTS, ScriptedLLM, ScriptedSTT

FRAME_16K = frame_bytes(16000)
SPEECH_FRAME = tone(20, 16000, 220.0, 0.5)
SILENT_FRAME = silence(20, 16000)


def make_roster() -> AgentRoster:
    lookup = ToolSpec(
        name="get_account_balance",
        description="Look up the balance of the caller's account.",
        parameters={
            "type": "object",
            "properties": {"account_id": {"type": "string", "description": "the account number"}},
            "required": ["account_id"],
        },
    )
    to_fraud = ToolSpec(
        name="handoff_fraud_agent",
        description="Transfer the caller to the fraud specialist.",
        parameters={"type": "object", "properties": {"reason": {"type": "string"}}},
        is_handoff=True,
        handoff_target="Fraud",
    )
    to_quiet = ToolSpec(
        name="handoff_quiet",
        description="Silent transfer.",
        is_handoff=True,
        handoff_target="Quiet",
        silent_handoff=True,
    )
    concierge = AgentSnapshot(
        name="Concierge",
        instructions="You are the bank concierge.",
        greeting="Hello, how can I help?",
        return_greeting="Welcome back.",
        tools=(lookup, to_fraud, to_quiet),
        is_entry_point=True,
    )
    fraud = AgentSnapshot(
        name="Fraud",
        instructions="You handle fraud.",
        greeting="Fraud desk here.",
        return_greeting="Fraud desk again.",
    )
    quiet = AgentSnapshot(
        name="Quiet", instructions="Quiet agent.", greeting="Should not be spoken."
    )
    return AgentRoster(
        agents={a.name: a for a in (concierge, fraud, quiet)}, entry_agent="Concierge"
    )


class RecordingToolRunner:
    """A ToolRunner that records calls; `delay_s` blocks the worker like a slow API."""

    def __init__(self, results: dict[str, Any] | None = None, delay_s: float = 0.0) -> None:
        self.results = results or {}
        self.delay_s = delay_s
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.started = asyncio.Event()

    def run(self, name: str, arguments: Any, context: ToolContext) -> dict[str, Any]:
        import time

        self.calls.append((name, dict(arguments)))
        if self.delay_s:
            time.sleep(self.delay_s)
        result = self.results.get(name, {"success": True, "balance": 42})
        return result(arguments, context) if callable(result) else dict(result)


class Harness:
    """A session with fake providers and every emitted event recorded in order."""

    def __init__(
        self,
        *,
        stt: Any = None,
        tts: Any = None,
        llm: Any = None,
        vad: Any = None,
        roster: AgentRoster | None = None,
        tool_runner: Any = None,
        config: EngineConfig | None = None,
        output_sample_rate_hz: int = 16000,
        session_id: str = "s1",
        async_emit: bool = False,
        **session_kwargs: Any,
    ) -> None:
        self.events: list[Event] = []
        self.providers = ProviderSet(
            stt=stt or ScriptedSTT(),
            tts=tts or FakeTTS(),
            llm=llm or ScriptedLLM(),
            vad=vad or EnergyVAD(),
        )
        self.tools = tool_runner or RecordingToolRunner()
        self._changed = asyncio.Event()

        def emit(event: Event) -> None:
            self.events.append(event)
            self._changed.set()

        async def aemit(event: Event) -> None:
            await asyncio.sleep(0)
            emit(event)

        self.session = ConversationSession(
            session_id=session_id,
            roster=roster or make_roster(),
            providers=self.providers,
            tool_runner=self.tools,
            emit=aemit if async_emit else emit,
            output_sample_rate_hz=output_sample_rate_hz,
            config=config or EngineConfig(pacing_speed=20.0),
            **session_kwargs,
        )

    async def __aenter__(self) -> Harness:
        await self.session.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.session.close()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 5.0) -> Any:
        async def loop() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                self._changed.clear()
                # Also re-check now and then: some conditions change without an event.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)

        return await asyncio.wait_for(loop(), timeout_s)

    async def wait_event(
        self, kind: type, count: int = 1, timeout_s: float = 5.0, **match: Any
    ) -> Any:
        def found() -> Any:
            hits = [e for e in self.of(kind) if all(getattr(e, k) == v for k, v in match.items())]
            return hits[count - 1] if len(hits) >= count else None

        return await self.wait_for(found, timeout_s)

    def speak(self, ms: int = 400, silence_ms: int = 520) -> None:
        """Push `ms` of loud audio then `silence_ms` of silence (ends the turn by default)."""
        for _ in range(ms // 20):
            self.session.push_audio(SPEECH_FRAME)
        for _ in range(silence_ms // 20):
            self.session.push_audio(SILENT_FRAME)

    def audio_after(self, event: Event) -> list[AudioFrame]:
        index = self.events.index(event)
        return [e for e in self.events[index + 1 :] if isinstance(e, AudioFrame)]

    def stale_audio_after_barge_in(self) -> list[AudioFrame]:
        stale = []
        for i, event in enumerate(self.events):
            if isinstance(event, BargeIn):
                stale += [
                    e
                    for e in self.events[i + 1 :]
                    if isinstance(e, AudioFrame) and e.turn_id <= event.turn_id
                ]
        return stale


@pytest.fixture
def roster() -> AgentRoster:
    return make_roster()
