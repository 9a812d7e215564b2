"""Ordered delivery of engine events to the transport's callback."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from media.engine.events import AudioFrame, Event

logger = logging.getLogger(__name__)


class EventEmitter:
    """Calls the transport's `emit(event)` on the loop, one event at a time, in order.

    A synchronous `emit` is called inline (no loop hop: an audio frame reaches the transport
    in the same tick the engine produced it). When `emit` returns an awaitable, later events
    wait in a queue until it completes, so an async transport still sees them in order.

    Audio of a cancelled turn never leaves after its stop: :meth:`drop_audio_before` purges
    queued frames of older turns and every later frame of them is dropped on delivery.
    """

    __slots__ = ("_emit", "_queue", "_busy", "_min_audio_turn", "_idle_waiters", "session_id")

    def __init__(self, emit: Callable[[Event], Any], session_id: str) -> None:
        self._emit = emit
        self._queue: deque[Event] = deque()
        self._busy = False
        self._min_audio_turn = 0
        self._idle_waiters: list[asyncio.Future] = []
        self.session_id = session_id

    def __call__(self, event: Event) -> None:
        if self._busy or self._queue:
            self._queue.append(event)
        else:
            self._deliver(event)

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing being delivered."""
        return not (self._busy or self._queue)

    async def wait_idle(self) -> None:
        """Until every event emitted so far has been delivered."""
        if self.idle:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        await waiter

    def drop_audio_before(self, turn_id: int) -> int:
        """Drop queued and future audio frames of turns older than `turn_id`; returns the count."""
        self._min_audio_turn = max(self._min_audio_turn, turn_id)
        if not self._queue:
            return 0
        kept = deque(e for e in self._queue if not (type(e) is AudioFrame and e.turn_id < turn_id))
        dropped = len(self._queue) - len(kept)
        self._queue = kept
        return dropped

    def _deliver(self, event: Event) -> None:
        if type(event) is AudioFrame and event.turn_id < self._min_audio_turn:
            return
        try:
            result = self._emit(event)
        except Exception:
            logger.exception("session %s: emit of %s failed", self.session_id, type(event).__name__)
            return
        if result is not None and hasattr(result, "__await__"):
            self._busy = True
            task = asyncio.ensure_future(result)
            task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Future) -> None:
        self._busy = False
        if not task.cancelled() and task.exception() is not None:
            logger.error("session %s: async emit failed: %r", self.session_id, task.exception())
        queue = self._queue
        while queue and not self._busy:
            self._deliver(queue.popleft())
        if self.idle and self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
