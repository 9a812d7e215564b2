"""The worker pool for blocking provider work and the one bridge back to the event loop.

Threading invariants:
- The event loop thread owns every session's state. Worker threads never touch it: they only
  hand results back through :meth:`ThreadBridge.post`, which queues a callback for the loop.
- `post` is the only cross-thread path (one `call_soon_threadsafe` per burst, not per item:
  callbacks queued while a drain is pending ride on it). Callbacks run on the loop in the order
  they were posted from any one thread.
- The pool is process-wide and bounded; each session also bounds its own in-flight jobs
  (:class:`SessionWorkers`) so one stuck session cannot take every worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

_END = object()


def _default_pool_size() -> int:
    env = os.environ.get("ENGINE_WORKER_THREADS")
    if env:
        return max(1, int(env))
    return max(8, min(64, (os.cpu_count() or 1) * 8))


class WorkerPool:
    """Process-wide bounded thread pool for blocking provider work (decode, synthesis, tools)."""

    _lock = threading.Lock()
    _shared: ThreadPoolExecutor | None = None

    @classmethod
    def executor(cls) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._shared is None:
                cls._shared = ThreadPoolExecutor(
                    max_workers=_default_pool_size(), thread_name_prefix="engine-worker"
                )
            return cls._shared


def _set_result(fut: asyncio.Future, value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future, exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


class ThreadBridge:
    """One per event loop: runs blocking work in the pool and brings results back to the loop."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadBridge] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, executor: ThreadPoolExecutor | None = None):
        self.loop = loop
        self.executor = executor or WorkerPool.executor()
        self._pending: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._scheduled = False

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> ThreadBridge:
        loop = loop or asyncio.get_running_loop()
        bridge = cls._by_loop.get(loop)
        if bridge is None:
            bridge = cls._by_loop[loop] = cls(loop)
        return bridge

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue `fn(*args)` to run on the loop. Safe from any thread (and from the loop)."""
        self._pending.append((fn, args))
        if not self._scheduled:
            self._scheduled = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed: the session is gone, drop the result
                self._scheduled = False

    def _drain(self) -> None:
        # Clear the flag before draining: a thread that appends after this point schedules anew.
        self._scheduled = False
        pending = self._pending
        while pending:
            fn, args = pending.popleft()
            try:
                fn(*args)
            except Exception:  # a callback bug must not kill the drain for other sessions
                logger.exception("bridge callback %r failed", fn)

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `fn(*args)` in the pool; the returned loop future resolves via the bridge."""
        fut: asyncio.Future[T] = self.loop.create_future()

        def job() -> None:
            if fut.cancelled():
                return
            try:
                value = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the loop
                self.post(_set_exception, fut, exc)
            else:
                self.post(_set_result, fut, value)

        self.executor.submit(job)
        return fut

    async def iterate(self, make_iter: Callable[[], Iterable[T]]) -> AsyncIterator[T]:
        """Run a blocking iterator in the pool and yield its items on the loop as they come.

        Closing the async iterator (or cancelling its consumer) stops the worker between items.
        """
        queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
        stop = threading.Event()

        def job() -> None:
            try:
                iterator = iter(make_iter())
                for item in iterator:
                    if stop.is_set():
                        close = getattr(iterator, "close", None)
                        if close:
                            close()
                        return
                    self.post(queue.put_nowait, (item, None))
            except BaseException as exc:  # noqa: BLE001 - re-raised on the loop
                self.post(queue.put_nowait, (_END, exc))
                return
            self.post(queue.put_nowait, (_END, None))

        self.executor.submit(job)
        try:
            while True:
                item, error = await queue.get()
                if item is _END:
                    if error is not None:
                        raise error
                    return
                yield item
        finally:
            stop.set()


class SessionWorkers:
    """A session's share of the pool: at most `max_in_flight` of its jobs wait on workers at once.

    A job whose awaiting coroutine is cancelled or times out frees its slot at once, although
    its thread finishes in the background (Python threads cannot be killed).
    """

    __slots__ = ("bridge", "_slots")

    def __init__(self, bridge: ThreadBridge, max_in_flight: int = 4) -> None:
        self.bridge = bridge
        self._slots = asyncio.Semaphore(max_in_flight)

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        async with self._slots:
            fut = self.bridge.submit(fn, *args)
            if timeout_s is None:
                return await fut
            return await asyncio.wait_for(fut, timeout_s)

    async def iterate(self, make_iter: Callable[[], Iterable[T]]) -> AsyncIterator[T]:
        async with self._slots:
            agen = self.bridge.iterate(make_iter)
            try:
                async for item in agen:
                    yield item
            finally:
                await agen.aclose()

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        self.bridge.post(fn, *args)
