"""The background writer: session writes leave the event loop and reach the database in order.

Invariants:
- One daemon thread per process owns every metrics write (and its own DB connection), so the
  writes of one session are applied in the order they were submitted (open → turns → close).
- `submit` never blocks and never touches the ORM: safe on the event loop of an async
  consumer and from sync code alike.
- Writes are applied in batches, one transaction per batch; when a batch fails, its writes
  are retried one by one so that one bad write cannot lose the others.
- When the database cannot be reached (a connection error, and a fresh connection fails too),
  nothing is lost or reordered: the broken connection is dropped, the unapplied writes and
  every later one wait in a buffer of `METRICS_BUFFER_MAX` writes (beyond it the oldest are
  dropped, counted in `lost` and logged), retried after 0.25 s, then twice as long each time
  up to 2 s, and applied in the order they were submitted once it answers again. Flushes do
  not wait for the database meanwhile: they fail with `DatabaseUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections, transaction

logger = logging.getLogger(__name__)

Write = Callable[[], None]

_BATCH_MAX = 200
_IDLE_CLOSE_S = 2.0
# While the database is down the buffered writes are retried after 0.25 s, then twice as
# long each time, up to this.
_RETRY_FIRST_S = 0.25
_RETRY_MAX_S = 2.0
_CONNECTION_ERRORS = (OperationalError, InterfaceError)


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


class DatabaseUnavailable(Exception):
    """A flush reached the writer while the database was down: the writes before it are
    buffered, and will be applied in order once it is back."""


class MetricsWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, Write] | _Barrier] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.applied = 0
        self.failed = 0
        self.lost = 0  # dropped from a full buffer during an outage
        # Writes waiting for the database to come back, oldest first (only while it is down).
        self._pending: deque[tuple[str, Write]] = deque()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._retry_delay_s = _RETRY_FIRST_S
        self._lost_in_outage = 0

    @property
    def buffered(self) -> int:
        """Writes held while the database is down."""
        return len(self._pending)

    @property
    def database_down(self) -> bool:
        return self._down_since is not None

    def submit(self, label: str, write: Write) -> None:
        """Queue a write (a callable doing ORM work); `label` names it in logs."""
        self._ensure_thread()
        self._queue.put((label, write))

    def barrier(self) -> Future[None]:
        """A future resolved once every write submitted before this call has been applied.

        While the database is down it fails with `DatabaseUnavailable` instead of waiting for
        the database: the writes are kept and applied once it is back.
        """
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
            item = self._next()
            if item is None:  # the database is down and its next retry is due
                self._retry()
                continue
            batch: list[tuple[str, Write]] = []
            while True:
                if isinstance(item, _Barrier):
                    # Apply what came before the barrier, then release its waiter.
                    self._apply(batch)
                    batch = []
                    if self.database_down:
                        item.future.set_exception(
                            DatabaseUnavailable(
                                f"the database is down: {self.buffered} writes buffered"
                            )
                        )
                    else:
                        if self._queue.empty():
                            _close_all_quietly()  # a flush usually ends a burst
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

    def _next(self) -> tuple[str, Write] | _Barrier | None:
        """The next queued item; None when the database is down and a retry is due."""
        if self.database_down:
            wait_s = self._retry_at - time.monotonic()
            if wait_s <= 0:
                return None
            try:
                return self._queue.get(timeout=wait_s)
            except queue.Empty:
                return None
        try:
            return self._queue.get(timeout=_IDLE_CLOSE_S)
        except queue.Empty:
            _close_all_quietly()  # idle: do not hold a database connection
            return self._queue.get()

    def _apply(self, batch: list[tuple[str, Write]]) -> None:
        if not batch:
            return
        if self.database_down:  # behind the buffered writes, in order
            self._buffer(batch)
            return
        # The connection is kept across batches while writes keep coming (reconnecting per
        # batch would cap throughput), and dropped when it failed or stayed idle.
        if connection.connection is not None and connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
        unapplied = self._apply_batch(batch)
        if unapplied:
            self._outage_begins(unapplied)

    def _apply_batch(self, batch: list[tuple[str, Write]]) -> list[tuple[str, Write]]:
        """Apply `batch`; the writes left unapplied because the database is unreachable."""
        try:
            with transaction.atomic():
                for group in _groups([write for _, write in batch]):
                    if isinstance(group, list):
                        group[0].apply_many([write.payload for write in group])
                    else:
                        group()
            self.applied += len(batch)
            return []
        except _CONNECTION_ERRORS:
            if not _database_reachable():
                return batch
        except Exception:  # noqa: BLE001  (retried one by one below)
            pass
        if len(batch) == 1:
            self._log_failure(batch[0][0])
            return []
        if connection.needs_rollback or connection.in_atomic_block:
            connection.close()
        for i, (label, write) in enumerate(batch):
            try:
                with transaction.atomic():
                    write()
                self.applied += 1
            except _CONNECTION_ERRORS:
                if not _database_reachable():
                    return batch[i:]
                self._log_failure(label)
            except Exception:  # noqa: BLE001
                self._log_failure(label)
        return []

    # --- a database outage: buffer, retry with backoff, apply in order once it is back ------

    def _outage_begins(self, unapplied: list[tuple[str, Write]]) -> None:
        self._down_since = time.monotonic()
        self._retry_delay_s = _RETRY_FIRST_S
        self._retry_at = self._down_since + self._retry_delay_s
        self._lost_in_outage = 0
        logger.error(
            "metrics writer: the database is unreachable; %d writes kept for when it is back "
            "(up to METRICS_BUFFER_MAX=%d)",
            len(unapplied),
            settings.METRICS_BUFFER_MAX,
        )
        self._buffer(unapplied)

    def _buffer(self, writes: list[tuple[str, Write]]) -> None:
        self._pending.extend(writes)
        limit = max(settings.METRICS_BUFFER_MAX, 1)
        dropped = 0
        while len(self._pending) > limit:
            label, _ = self._pending.popleft()
            dropped += 1
            if self._lost_in_outage + dropped == 1:
                logger.error(
                    "metrics writer: buffer full (METRICS_BUFFER_MAX=%d): dropping the oldest "
                    "writes while the database is down, first %s",
                    limit,
                    label,
                )
        self.lost += dropped
        self._lost_in_outage += dropped

    def _retry(self) -> None:
        """Apply the buffered writes, oldest first; on failure, wait longer before the next try."""
        _close_quietly()
        while self._pending:
            count = min(len(self._pending), _BATCH_MAX)
            batch = [self._pending.popleft() for _ in range(count)]
            unapplied = self._apply_batch(batch)
            if unapplied:
                self._pending.extendleft(reversed(unapplied))
                _close_quietly()
                self._retry_delay_s = min(self._retry_delay_s * 2, _RETRY_MAX_S)
                self._retry_at = time.monotonic() + self._retry_delay_s
                return
        down_s = time.monotonic() - (self._down_since or time.monotonic())
        self._down_since = None
        log = logger.warning if self._lost_in_outage else logger.info
        log(
            "metrics writer: the database is back after %.1f s; buffered writes applied, "
            "%d lost (buffer full)",
            down_s,
            self._lost_in_outage,
        )

    def _log_failure(self, label: str) -> None:
        self.failed += 1
        logger.exception("metrics write failed: %s", label)


def _database_reachable() -> bool:
    """After a connection error: whether a fresh connection answers (the failure was then the
    write's own), or the database is down."""
    _close_quietly()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001  (any failure to reach it means it is down)
        _close_quietly()
        return False


def _close_all_quietly() -> None:
    try:
        connections.close_all()
    except Exception:  # noqa: BLE001  (a connection that died with its server)
        _close_quietly()


def _close_quietly() -> None:
    """Drop this thread's connection, broken or not (closing a dead one can raise)."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001
        connection.connection = None


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
