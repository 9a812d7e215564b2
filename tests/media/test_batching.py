"""TickBatcher: one model run per loop iteration, one item per key per run, order per key kept."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any

from media.engine.batching import TickBatcher


class RecordingModel:
    """Squares numbers; records every batch it was given and every result it delivered."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[Hashable, Any]]] = []
        self.delivered: dict[Hashable, list[int]] = {}

    def prepare(self, batch: Sequence[tuple[Hashable, Any]]) -> tuple[list, Any]:
        kept = list(batch)
        self.batches.append(kept)
        return kept, [item for _, item in kept]

    def compute(self, inputs: Any) -> Any:
        return [x * x for x in inputs]

    def finish(self, kept: list, outputs: Any) -> None:
        for (key, _), result in zip(kept, outputs, strict=True):
            self.delivered.setdefault(key, []).append(result)

    def fail(self, kept: list, exc: BaseException) -> None:
        raise AssertionError(exc)


async def drain(batcher: TickBatcher) -> None:
    for _ in range(200):
        if not batcher.pending:
            break
        await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_a_backlog_runs_one_item_per_key_per_run_in_submission_order():
    model = RecordingModel()
    batcher = TickBatcher(asyncio.get_running_loop(), model, max_batch=8)
    # A burst: three sessions with five windows each (a network hiccup), and twenty sessions
    # with one window each, submitted in one loop iteration.
    for step in range(5):
        for key in ("a", "b", "c"):
            batcher.submit(key, 10 * step + ord(key))
    for key in range(20):
        batcher.submit(key, key)
    assert batcher.pending == 35
    await drain(batcher)
    assert batcher.pending == 0
    for batch in model.batches:
        keys = [key for key, _ in batch]
        assert len(keys) == len(set(keys)) <= 8
    for key in ("a", "b", "c"):
        assert model.delivered[key] == [(10 * step + ord(key)) ** 2 for step in range(5)]
    assert all(model.delivered[key] == [key * key] for key in range(20))
    assert batcher.items_run == 35 and batcher.runs == len(model.batches) == 5


async def test_items_of_one_loop_iteration_share_one_run():
    model = RecordingModel()
    batcher = TickBatcher(asyncio.get_running_loop(), model, max_batch=64)
    for tick in range(3):
        for key in range(40):
            batcher.submit(key, tick)
        await drain(batcher)
    assert [len(batch) for batch in model.batches] == [40, 40, 40]
    assert all(model.delivered[key] == [0, 1, 4] for key in range(40))
