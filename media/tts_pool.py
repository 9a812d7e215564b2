"""The TTS worker pool: warm synthesizers per voice, allocated to sessions, bounded in size.

A synthesizer (a :class:`media.providers.base.TTS` instance) is expensive to build (a vendor
SDK client, a loaded voice), so the pool keeps them and hands them out:

- **Session-aware**: a session that asks again gets the synthesizer it already holds ("cached").
- **Warm**: a released synthesizer is kept idle for its voice and reused by the next session
  asking for that voice ("warm"); configured voices are built ahead of use and topped up in the
  background after each take. Only when none is idle is a new one built ("new"), in a worker
  thread, never on the event loop.
- **Bounded**: at most `max_size` synthesizers exist. When all are leased, `acquire` queues
  (first come, first served) for up to `acquire_timeout_s`; with `max_waiters` already waiting,
  or after the timeout, it raises :class:`TTSPoolExhausted`. An idle synthesizer of another voice
  is closed to make room rather than making anyone wait.

Reuse contract: a synthesizer is handed from session to session; each session calls its
`start(context)` and the pool calls `cancel()` on release. `close()` is called only when the
pool drops it (eviction, `release(..., discard=True)`, a failed readiness, or :meth:`aclose`).

Threading: `acquire`, `warm` and `aclose` run on an event loop; `release` and `snapshot` are
plain calls, safe from any thread (the HTTP status endpoints read `snapshot` from theirs).
State is guarded by one lock held only for dictionary work, never across a build or an await.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

TTSFactory = Callable[[str], Any]  # voice name -> a new, unstarted TTS provider instance


class TTSPoolExhausted(RuntimeError):
    """No synthesizer could be allocated: the pool is full and the wait failed."""


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """The pool's state and counters at one instant."""

    name: str
    max_size: int
    size: int  # synthesizers that exist (leased + idle + being built)
    active_sessions: int
    idle: int
    idle_by_voice: dict[str, int]
    building: int
    queue_depth: int
    max_queue_depth: int
    allocations_total: int
    allocations_cached: int
    allocations_warm: int
    allocations_new: int
    releases: int
    discards: int
    evictions: int
    rejections: int
    factory_failures: int
    consecutive_failures: int
    last_error: str
    peak_active_sessions: int
    session_awareness: bool = True

    @property
    def status(self) -> str:
        """`healthy`, `degraded` (queueing, full, or a recent build failure) or `unhealthy`."""
        if self.consecutive_failures >= 3:
            return "unhealthy"
        if self.consecutive_failures or self.queue_depth or self.active_sessions >= self.max_size:
            return "degraded"
        return "healthy"


@dataclass(slots=True)
class _Lease:
    voice: str
    tts: Any


class TTSPool:
    """Process-wide pool of TTS synthesizers. See the module docstring for the contract."""

    def __init__(
        self,
        factory: TTSFactory,
        *,
        name: str = "tts",
        max_size: int = 64,
        warm_voices: Iterable[str] = (),
        warm_per_voice: int = 1,
        acquire_timeout_s: float = 5.0,
        max_waiters: int = 32,
        executor: Any = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.factory = factory
        self.name = name
        self.max_size = max_size
        self.warm_voices = tuple(dict.fromkeys(warm_voices))
        self.warm_per_voice = max(0, warm_per_voice)
        self.acquire_timeout_s = acquire_timeout_s
        self.max_waiters = max_waiters
        self._executor = executor
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._idle: dict[str, deque[Any]] = {}
        self._building = 0
        self._waiters: deque[asyncio.Future] = deque()
        self._background: set[asyncio.Task] = set()
        self._closed = False
        self._counts = dict.fromkeys(
            (
                "allocations_total",
                "allocations_cached",
                "allocations_warm",
                "allocations_new",
                "releases",
                "discards",
                "evictions",
                "rejections",
                "factory_failures",
                "consecutive_failures",
                "max_queue_depth",
                "peak_active_sessions",
            ),
            0,
        )
        self._last_error = ""

    # --- allocation -------------------------------------------------------------------------

    async def acquire(self, session_id: str, voice: str = "") -> Any:
        """The session's synthesizer for `voice`: its own, a warm one, or a newly built one.

        Raises:
            TTSPoolExhausted: the pool is full and no synthesizer came free in time.
            Exception: whatever the factory raised when building a new one.
        """
        if self._closed:
            raise TTSPoolExhausted(f"TTS pool {self.name!r} is closed")
        deadline = time.monotonic() + self.acquire_timeout_s
        queued = False
        while True:
            to_close: Any = None
            with self._lock:
                lease = self._leases.get(session_id)
                if lease is not None and lease.voice == voice and _is_ready(lease.tts):
                    self._count("allocations_total", "allocations_cached")
                    return lease.tts
                if lease is not None:
                    # A different voice (or a broken synthesizer): give the old one back first.
                    del self._leases[session_id]
                    self._put_idle_locked(lease, ready=_is_ready(lease.tts))
                # First come, first served: newcomers queue behind sessions already waiting.
                if queued or not self._waiters:
                    tts = self._take_idle_locked(voice)
                    if tts is not None:
                        self._lease_locked(session_id, voice, tts)
                        self._count("allocations_total", "allocations_warm")
                        self._wake_next_locked()
                        self._schedule_top_up(voice)
                        return tts
                    if self._size_locked() >= self.max_size:
                        to_close = self._evict_idle_locked()
                    if self._size_locked() < self.max_size or to_close is not None:
                        self._building += 1
                        build = True
                    else:
                        build = False
                else:
                    build = False
                if not build:
                    if not queued and len(self._waiters) >= self.max_waiters:
                        self._counts["rejections"] += 1
                        raise TTSPoolExhausted(
                            f"TTS pool {self.name!r} is full ({self.max_size} synthesizers in use, "
                            f"{len(self._waiters)} sessions waiting)"
                        )
                    waiter = asyncio.get_running_loop().create_future()
                    if queued:
                        # Keep this session's place at the head of the queue.
                        self._waiters.appendleft(waiter)
                    else:
                        self._waiters.append(waiter)
                    depth = len(self._waiters)
                    self._counts["max_queue_depth"] = max(self._counts["max_queue_depth"], depth)
            if build:
                if to_close is not None:
                    await _close_quietly(to_close)
                try:
                    tts = await self._build(voice)
                except BaseException:
                    with self._lock:
                        self._building -= 1
                        self._wake_next_locked()  # the reserved place is free again
                    raise
                with self._lock:
                    self._building -= 1
                    if not self._closed:
                        self._lease_locked(session_id, voice, tts)
                        self._count("allocations_total", "allocations_new")
                        self._schedule_top_up(voice)
                        return tts
                await _close_quietly(tts)
                raise TTSPoolExhausted(f"TTS pool {self.name!r} is closed")
            queued = True
            remaining_s = deadline - time.monotonic()
            try:
                if remaining_s <= 0:
                    raise TimeoutError
                await asyncio.wait_for(asyncio.shield(waiter), remaining_s)
            except (TimeoutError, asyncio.CancelledError) as exc:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                    elif waiter.done() and not waiter.cancelled():
                        self._wake_next_locked()  # pass the wake-up on: we are leaving
                    if isinstance(exc, TimeoutError):
                        self._counts["rejections"] += 1
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise TTSPoolExhausted(
                    f"TTS pool {self.name!r} is full: no synthesizer came free within "
                    f"{self.acquire_timeout_s:.1f} s"
                ) from None

    def release(self, session_id: str, *, discard: bool = False) -> None:
        """Give the session's synthesizer back (stops what it was saying). Never raises.

        `discard=True` drops it instead of keeping it warm (e.g. after it failed).
        """
        with self._lock:
            lease = self._leases.pop(session_id, None)
            if lease is None:
                return
            try:
                lease.tts.cancel()
            except Exception:
                logger.exception("session %s: TTS cancel failed on release", session_id)
            ready = not discard and _is_ready(lease.tts)
            self._counts["releases"] += 1
            self._put_idle_locked(lease, ready=ready)
            self._wake_next_locked()

    def leased_to(self, session_id: str) -> Any:
        """The synthesizer the session holds, or None."""
        with self._lock:
            lease = self._leases.get(session_id)
            return lease.tts if lease else None

    # --- warming and shutdown ---------------------------------------------------------------

    async def warm(self, voices: Iterable[str] | None = None, per_voice: int | None = None) -> int:
        """Build idle synthesizers ahead of use (within capacity); returns how many were built."""
        voices = tuple(voices) if voices is not None else self.warm_voices
        per_voice = self.warm_per_voice if per_voice is None else per_voice
        built = 0
        for voice in voices:
            while True:
                with self._lock:
                    if self._closed or len(self._idle.get(voice, ())) >= per_voice:
                        break
                    if self._size_locked() >= self.max_size:
                        return built
                    self._building += 1
                try:
                    tts = await self._build(voice)
                except Exception:  # noqa: BLE001  (counted and logged by _build)
                    with self._lock:
                        self._building -= 1
                    break
                with self._lock:
                    self._building -= 1
                    self._idle.setdefault(voice, deque()).append(tts)
                    self._wake_next_locked()
                built += 1
        return built

    async def aclose(self) -> None:
        """Close every synthesizer; later acquisitions fail."""
        with self._lock:
            self._closed = True
            instances = [lease.tts for lease in self._leases.values()]
            instances += [tts for idle in self._idle.values() for tts in idle]
            self._leases.clear()
            self._idle.clear()
            waiters = list(self._waiters)
            self._waiters.clear()
            background = list(self._background)
        for waiter in waiters:
            _resolve(waiter)
        for task in background:
            task.cancel()
        for tts in instances:
            await _close_quietly(tts)

    # --- state ------------------------------------------------------------------------------

    def snapshot(self) -> PoolSnapshot:
        with self._lock:
            idle_by_voice = {voice: len(q) for voice, q in self._idle.items() if q}
            return PoolSnapshot(
                name=self.name,
                max_size=self.max_size,
                size=self._size_locked(),
                active_sessions=len(self._leases),
                idle=sum(idle_by_voice.values()),
                idle_by_voice=idle_by_voice,
                building=self._building,
                queue_depth=len(self._waiters),
                last_error=self._last_error,
                **self._counts,
            )

    # --- internals (call with the lock held where the name says so) -------------------------

    def _count(self, *names: str) -> None:
        for name in names:
            self._counts[name] += 1

    def _size_locked(self) -> int:
        return len(self._leases) + sum(len(q) for q in self._idle.values()) + self._building

    def _lease_locked(self, session_id: str, voice: str, tts: Any) -> None:
        self._leases[session_id] = _Lease(voice, tts)
        active = len(self._leases)
        self._counts["peak_active_sessions"] = max(self._counts["peak_active_sessions"], active)

    def _take_idle_locked(self, voice: str) -> Any:
        idle = self._idle.get(voice)
        while idle:
            tts = idle.popleft()
            if _is_ready(tts):
                return tts
            self._counts["discards"] += 1
            self._close_later(tts)
        return None

    def _put_idle_locked(self, lease: _Lease, *, ready: bool) -> None:
        if ready and not self._closed:
            self._idle.setdefault(lease.voice, deque()).append(lease.tts)
        else:
            self._counts["discards"] += 1
            self._close_later(lease.tts)

    def _evict_idle_locked(self) -> Any:
        """Take the oldest idle synthesizer of any voice, to be closed to make room."""
        for idle in self._idle.values():
            if idle:
                self._counts["evictions"] += 1
                return idle.popleft()
        return None

    def _wake_next_locked(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                _resolve(waiter)
                return

    def _schedule_top_up(self, voice: str) -> None:
        """Keep a configured voice warm: build a spare in the background after a take."""
        if voice not in self.warm_voices or self.warm_per_voice == 0 or self._closed:
            return
        if len(self._idle.get(voice, ())) >= self.warm_per_voice:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.warm([voice]))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _build(self, voice: str) -> Any:
        loop = asyncio.get_running_loop()
        try:
            tts = await loop.run_in_executor(
                self._executor or _default_executor(), self.factory, voice
            )
        except Exception as exc:
            with self._lock:
                self._counts["factory_failures"] += 1
                self._counts["consecutive_failures"] += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "TTS pool %s: building a synthesizer for %r failed: %s", self.name, voice, exc
            )
            raise
        with self._lock:
            self._counts["consecutive_failures"] = 0
        return tts

    def _close_later(self, tts: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(_close_quietly(tts))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        try:
            result = tts.close()
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except Exception:
            logger.exception("TTS pool %s: closing a synthesizer failed", self.name)


def _is_ready(tts: Any) -> bool:
    return bool(getattr(tts, "is_ready", True))


def _resolve(waiter: asyncio.Future) -> None:
    loop = waiter.get_loop()

    def set_result() -> None:
        if not waiter.done():
            waiter.set_result(None)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        set_result()
    else:
        loop.call_soon_threadsafe(set_result)


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _close_quietly(tts: Any) -> None:
    try:
        result = tts.close()
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("closing a pooled TTS synthesizer failed")


def _default_executor():
    from media.engine.threads import WorkerPool

    return WorkerPool.executor()


# --- the process-wide pool --------------------------------------------------------------------

_default_lock = threading.Lock()
_default: TTSPool | None = None


def configure_default_pool(factory: TTSFactory, **options: Any) -> TTSPool:
    """Install the process-wide pool (replacing any earlier one, which is left to its leases)."""
    global _default
    pool = TTSPool(factory, **options)
    with _default_lock:
        _default = pool
    return pool


def default_pool() -> TTSPool | None:
    """The process-wide pool the engine allocates from, or None before it is configured."""
    return _default
