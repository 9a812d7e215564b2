"""Batched model inference across the sessions of one event loop.

A small model run once per item costs mostly fixed overhead (the Silero VAD: about 0.26 ms for
one 32 ms window, about 80 µs per window in a batch of 32 or more). :class:`TickBatcher`
collects the items that the sessions of a loop submit during one loop iteration (the inbound
frames of every call handled in that iteration) and runs them as one batch.

Ordering and threading invariants:
- `submit` and every :class:`BatchModel` callback except `compute` run on the loop thread.
- A batch holds at most one item per key (a key is a session's model state: its next item
  needs the state its previous item produced), at most `max_batch` items; the rest wait for the
  next round, which is scheduled as soon as the batch is done. Items of one key run in the order
  they were submitted.
- One batch per batcher is in flight at a time, so `prepare` may read the keys' states and
  `finish` write them without locks, even when `compute` runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from media.engine.threads import ThreadBridge

logger = logging.getLogger(__name__)

__all__ = ["BatchModel", "TickBatcher"]


class BatchModel(Protocol):
    """How a batch is built, computed and delivered."""

    def prepare(self, batch: Sequence[tuple[Hashable, Any]]) -> tuple[list, Any]:
        """On the loop: drop dead items; return (kept items, inputs for `compute`)."""

    def compute(self, inputs: Any) -> Any:
        """Run the model (on the loop or in a worker thread): blocking, no session state."""

    def finish(self, kept: list, outputs: Any) -> None:
        """On the loop: store new states and deliver each item's result."""

    def fail(self, kept: list, exc: BaseException) -> None:
        """On the loop: `compute` raised; deliver a neutral result to each item."""


class TickBatcher:
    """Runs items submitted on one loop in batches, flushed at the end of the loop iteration.

    Args:
        loop: the event loop whose sessions submit items.
        model: builds, computes and delivers batches.
        max_batch: items per model run (bounds how long one run blocks the loop).
        max_delay_ms: 0 flushes at the end of the loop iteration of the first pending item
            (`call_soon`); more waits that long for other sessions' items (bigger batches, later
            results).
        in_worker: run `compute` in the engine's worker pool and deliver through the loop's
            :class:`~media.engine.threads.ThreadBridge` (the loop keeps serving sockets and
            timers meanwhile); otherwise on the loop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        model: BatchModel,
        *,
        max_batch: int = 64,
        max_delay_ms: float = 0.0,
        in_worker: bool = False,
    ) -> None:
        self.loop = loop
        self.model = model
        self.max_batch = max(1, max_batch)
        self.max_delay_s = max(0.0, max_delay_ms) / 1000.0
        self.in_worker = in_worker
        # Items per key as (sequence number, item), in submission order, and a heap of
        # (sequence number of its next item, key) per key with items: a batch takes the next
        # item of each of the `max_batch` keys whose next items were submitted first (as a
        # scan of one FIFO of all items would), in O(batch log keys) however long the backlog.
        self._items: dict[Hashable, deque[tuple[int, Any]]] = {}
        self._due: list[tuple[int, Hashable]] = []
        self._submitted = 0
        self._pending = 0
        self._scheduled = False
        self._running = False
        self.runs = 0  # model runs so far (tests and benchmarks read these)
        self.items_run = 0

    def submit(self, key: Hashable, item: Any) -> None:
        """Queue `item` of `key` for the next batch. On the loop thread only."""
        seq = self._submitted
        self._submitted = seq + 1
        items = self._items.get(key)
        if items is None:
            self._items[key] = deque(((seq, item),))
            heapq.heappush(self._due, (seq, key))
        else:
            items.append((seq, item))
        self._pending += 1
        if not self._scheduled and not self._running:
            self._schedule()

    @property
    def pending(self) -> int:
        return self._pending

    def _schedule(self) -> None:
        self._scheduled = True
        if self.max_delay_s:
            self.loop.call_later(self.max_delay_s, self._flush)
        else:
            self.loop.call_soon(self._flush)

    def _take(self) -> list[tuple[Hashable, Any]]:
        due = self._due
        all_items = self._items
        count = min(len(due), self.max_batch)
        batch: list[tuple[Hashable, Any]] = []
        later: list[tuple[int, Hashable]] = []  # keys with more items: not twice in one batch
        for _ in range(count):
            _, key = heapq.heappop(due)
            items = all_items[key]
            batch.append((key, items.popleft()[1]))
            if items:
                later.append((items[0][0], key))
            else:
                del all_items[key]
        for entry in later:
            heapq.heappush(due, entry)
        self._pending -= count
        return batch

    def _flush(self) -> None:
        self._scheduled = False
        if self._running or not self._pending:
            return
        kept, inputs = self.model.prepare(self._take())
        if not kept:
            self._next_round()
            return
        self.runs += 1
        self.items_run += len(kept)
        if not self.in_worker:
            try:
                outputs = self.model.compute(inputs)
            except Exception as exc:  # noqa: BLE001 - every item gets a neutral result
                self._deliver_failure(kept, exc)
            else:
                self._deliver(kept, outputs)
            self._next_round()
            return
        self._running = True
        bridge = ThreadBridge.for_loop(self.loop)

        def job() -> None:
            try:
                outputs = self.model.compute(inputs)
            except Exception as exc:  # noqa: BLE001 - delivered on the loop
                bridge.post(self._worker_done, kept, None, exc)
            else:
                bridge.post(self._worker_done, kept, outputs, None)

        bridge.executor.submit(job)

    def _worker_done(self, kept: list, outputs: Any, exc: BaseException | None) -> None:
        self._running = False
        if exc is not None:
            self._deliver_failure(kept, exc)
        else:
            self._deliver(kept, outputs)
        self._next_round()

    def _deliver(self, kept: list, outputs: Any) -> None:
        try:
            self.model.finish(kept, outputs)
        except Exception:  # a session's bug must not stop the batches of the others
            logger.exception("batch delivery failed")

    def _deliver_failure(self, kept: list, exc: BaseException) -> None:
        logger.error("batched inference failed for %d items: %s", len(kept), exc)
        try:
            self.model.fail(kept, exc)
        except Exception:
            logger.exception("batch failure delivery failed")

    def _next_round(self) -> None:
        # A fresh loop iteration per round: timers (the output pacer) and sockets run between.
        if self._pending and not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush)
