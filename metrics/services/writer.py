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

from django.db import close_old_connections, connection, transaction

logger = logging.getLogger(__name__)

Write = Callable[[], None]

_BATCH_MAX = 200


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
            item = self._queue.get()
            batch: list[tuple[str, Write]] = []
            while True:
                if isinstance(item, _Barrier):
                    # Apply what came before the barrier, then release its waiter.
                    self._apply(batch)
                    batch = []
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
        # Like a request: the connection honours CONN_MAX_AGE and is not held open while idle.
        close_old_connections()
        try:
            self._apply_batch(batch)
        finally:
            close_old_connections()

    def _apply_batch(self, batch: list[tuple[str, Write]]) -> None:
        try:
            with transaction.atomic():
                for _, write in batch:
                    write()
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
        close_old_connections()


writer = MetricsWriter()


async def flush() -> None:
    """Wait (without blocking the loop) until every write submitted so far is in the database."""
    await asyncio.wrap_future(writer.barrier())


def flush_blocking(timeout_s: float | None = 30.0) -> None:
    """`flush` for sync code (tests, management commands, Celery tasks)."""
    writer.barrier().result(timeout=timeout_s)
