"""What every conversation engine keeps for its conversation.

Both engines, the cascade (:class:`~media.engine.session.ConversationSession`) and the realtime
service (:class:`~media.realtime.session.RealtimeSession`), are built with the same arguments
by `media.conversation` and keep the same conversation state: the roster and the active agent,
the history, the tools' memory, the turn counter and the ordered event emitter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from media.engine.config import EngineConfig
from media.engine.emitter import EventEmitter
from media.engine.events import Event
from media.engine.output import AgentAudio
from media.engine.pacing import OutputPacer
from media.engine.snapshot import AgentRoster, ToolContext, ToolRunner
from media.engine.threads import SessionWorkers, ThreadBridge

logger = logging.getLogger(__name__)


class SessionBase:
    """The conversation state both engines share (see the module docstring).

    `active_agent` falls back to the roster's entry agent when it is unknown (an agent
    renamed or disabled since the session was stored); `turns_before` makes the turn ids of a
    resumed session go on from its stored turns.
    """

    def __init__(
        self,
        *,
        session_id: str,
        roster: AgentRoster,
        tool_runner: ToolRunner,
        emit: Callable[[Event], Any],
        output_sample_rate_hz: int,
        config: EngineConfig | None = None,
        history: list[dict[str, Any]] | None = None,
        active_agent: str | None = None,
        resumed: bool = False,
        tool_state: Mapping[str, Any] | None = None,
        turns_before: int = 0,
    ) -> None:
        self.session_id = session_id
        self.roster = roster
        self.tool_runner = tool_runner
        self.output_sample_rate_hz = output_sample_rate_hz
        self.config = config or EngineConfig()
        self.history: list[dict[str, Any]] = list(history or [])
        if active_agent and active_agent not in roster.agents:
            logger.warning("session %s: unknown agent %r, using entry", session_id, active_agent)
            active_agent = None
        self.active_agent: str = active_agent or roster.entry_agent
        self.visited_agents: set[str] = {self.active_agent}
        self.tool_state: dict[str, Any] = dict(tool_state or {})
        self.resumed = resumed
        self.emitter = EventEmitter(emit, session_id)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.workers: SessionWorkers | None = None
        self.audio: AgentAudio | None = None  # built on start, on the session's loop
        self.pacer: OutputPacer | None = None
        self._tool_lock = threading.Lock()
        self._turn_id = turns_before
        self._started = False
        self._closed = False

    @property
    def turn_id(self) -> int:
        """The id of the latest turn (the one the agent answers or answered last)."""
        return self._turn_id

    @property
    def closed(self) -> bool:
        """:meth:`close` was called: nothing more is emitted or answered."""
        return self._closed

    def _start_audio(
        self, *, on_frame: Callable[[], Any], on_audio_end: Callable[..., Any]
    ) -> None:
        """Bind the session to the running loop: its workers, and the agent's audio output
        (pacer) with the engine's callbacks for each frame sent and the end of a turn's audio."""
        self.loop = asyncio.get_running_loop()
        self.workers = SessionWorkers(
            ThreadBridge.for_loop(self.loop), self.config.max_jobs_in_flight
        )
        self.audio = AgentAudio(
            self.loop,
            session_id=self.session_id,
            emitter=self.emitter,
            sample_rate_hz=self.output_sample_rate_hz,
            config=self.config,
            on_frame=on_frame,
            on_audio_end=on_audio_end,
        )
        self.pacer = self.audio.pacer

    def switch_agent(self, name: str) -> bool:
        """Make `name` the active agent; True when it is its first visit in this session."""
        first_visit = name not in self.visited_agents
        self.visited_agents.add(name)
        self.active_agent = name
        return first_visit

    def submit_tool(
        self, name: str, arguments: Mapping[str, Any], context: ToolContext
    ) -> asyncio.Future:
        """Run a tool in a worker (:meth:`run_tool_blocking`); its future is on the loop."""
        return self.workers.bridge.submit(self.run_tool_blocking, name, arguments, context)

    def run_tool_blocking(
        self, name: str, arguments: Mapping[str, Any], context: ToolContext
    ) -> dict:
        """Run a tool in a worker; one tool at a time per session (they share `tool_state`)."""
        with self._tool_lock:
            return self.tool_runner.run(name, arguments, context)
