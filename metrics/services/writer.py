"""The background writer: session writes leave the event loop and reach the database in order.

Invariants:
- One daemon thread per process owns every metrics write (and its own DB connection), so the
  writes of one session are applied in the order they were submitted (open → turns → close).
- `submit` never blocks and never touches the ORM: safe on the event loop of an async
  consumer and from sync code alike.
- Writes are applied in batches, one transaction per batch; when a batch fails, its writes
  are retried one by one so that one bad write cannot lose the others.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections, transaction

logger = logging.getLogger(__name__)

Write = Callable[[], None]

_BATCH_MAX = 200
_IDLE_CLOSE_S = 2.0


@dataclass(frozen=True, slots=True)
class BulkWrite:
    """A write that can be applied together with its neighbours of the same kind.

    Consecutive bulk writes sharing `apply_many` are applied by one call (e.g. one
    `bulk_create` for a batch of turns); alone, it is `apply_many([payload])`.
    """

    apply_many: Callable[[list[Any]], None]
    payload: Any

    def __call__(self) -> None:
        self.apply_many([self.payload])


class _Barrier:
    """Resolves its future when the writer reaches it: everything submitted before is applied."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: Future[None] = Future()


class MetricsWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, Write] | _Barrier] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.applied = 0
        self.failed = 0

    def submit(self, label: str, write: Write) -> None:
        """Queue a write (a callable doing ORM work); `label` names it in logs."""
        self._ensure_thread()
        self._queue.put((label, write))

    def barrier(self) -> Future[None]:
        """A future resolved once every write submitted before this call has been applied."""
        self._ensure_thread()
        barrier = _Barrier()
        self._queue.put(barrier)
        return barrier.future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="metrics-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_IDLE_CLOSE_S)
            except queue.Empty:
                connections.close_all()  # idle: do not hold a database connection
                item = self._queue.get()
            batch: list[tuple[str, Write]] = []
            while True:
                if isinstance(item, _Barrier):
                    # Apply what came before the barrier, then release its waiter.
                    self._apply(batch)
                    batch = []
                    if self._queue.empty():
                        connections.close_all()  # a flush usually ends a burst (disconnect)
                    item.future.set_result(None)
                else:
                    batch.append(item)
                if len(batch) >= _BATCH_MAX:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._apply(batch)

    def _apply(self, batch: list[tuple[str, Write]]) -> None:
        if not batch:
            return
        # The connection is kept across batches while writes keep coming (reconnecting per
        # batch would cap throughput), and dropped when it failed or stayed idle.
        if connection.connection is not None and connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
        self._apply_batch(batch)

    def _apply_batch(self, batch: list[tuple[str, Write]]) -> None:
        try:
            with transaction.atomic():
                for group in _groups([write for _, write in batch]):
                    if isinstance(group, list):
                        group[0].apply_many([write.payload for write in group])
                    else:
                        group()
            self.applied += len(batch)
            return
        except Exception:  # noqa: BLE001  (retried one by one below)
            if len(batch) == 1:
                self._log_failure(batch[0][0])
                return
        if connection.needs_rollback or connection.in_atomic_block:
            connection.close()
        for label, write in batch:
            try:
                with transaction.atomic():
                    write()
                self.applied += 1
            except Exception:  # noqa: BLE001
                self._log_failure(label)

    def _log_failure(self, label: str) -> None:
        self.failed += 1
        logger.exception("metrics write failed: %s", label)


def _groups(writes: list[Write]) -> list[Write | list[BulkWrite]]:
    """Runs of consecutive bulk writes of one kind become lists; other writes stay alone."""
    groups: list[Write | list[BulkWrite]] = []
    for write in writes:
        if isinstance(write, BulkWrite):
            last = groups[-1] if groups else None
            if isinstance(last, list) and last[0].apply_many is write.apply_many:
                last.append(write)
                continue
            groups.append([write])
        else:
            groups.append(write)
    return groups


writer = MetricsWriter()


async def flush() -> None:
    """Wait (without blocking the loop) until every write submitted so far is in the database."""
    await asyncio.wrap_future(writer.barrier())


def flush_blocking(timeout_s: float | None = 30.0) -> None:
    """`flush` for sync code (tests, management commands, Celery tasks)."""
    writer.barrier().result(timeout=timeout_s)
