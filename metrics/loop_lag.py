"""The serving event loop measures its own lag: how late its timers fire.

Anything that holds the loop (a callback that computes, native code holding the GIL in any
thread of the process, a full garbage collection) delays every socket of the process by the
same amount; a latency measured from when the loop handled a frame cannot see it. A timer on
the loop fires every `TICK_MS` and records how late each wake-up was.

The tick is 20 ms, one audio frame: a stall of 20 ms or more always shows up (late by at least
its length minus one tick). The ticker is a timer callback that re-arms itself (no task, no
future), so the cost is the wake-up itself: on the 2-vCPU project machine an otherwise idle
process spends about 8 ms of CPU per second on it (0.8 % of a core; 0.3 % at 50 ms, 1.6 % at
10 ms), and a busy loop, awake for its sockets anyway, much less. A 50 ms tick would see only
part of the stalls under 50 ms.

Figures over the last `WINDOW_S` seconds: p50/p99/max lag, and the count of wake-ups late by
at least each of `STALL_THRESHOLDS_MS`. The percentiles count the ticks a stall swallowed
(a wake-up late by 300 ms stands for the ticks due 280, 260, ... 20 ms before it, as
HdrHistogram's coordinated-omission correction does): they are the delay a frame arriving at
a random moment would have seen, so a 1 s stall in a minute moves p99. Per second, for the last
`SERIES_S` seconds, the max and p99 lag for a chart; a second with no wake-up (the loop was
held through it) has the lag reached by its end as its max, and no p99.

Threads: the ticker writes on the loop; `snapshot()` may be called from any thread (Django's
sync views run in worker threads), so both hold `_lock`, for microseconds. There is one
monitor per process, started lazily on the serving loop by `ensure_started()` (Daphne gives
Channels apps no lifespan event); a call from another loop replaces it. This module imports
no Django model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

TICK_MS = 20.0
WINDOW_S = 60.0
SERIES_S = 300
STALL_THRESHOLDS_MS = (50, 100, 250, 1000)


@dataclass(frozen=True, slots=True)
class LoopLagPoint:
    """One second of the series: `t` is its Unix time; `p99_ms` is None without a wake-up."""

    t: int
    max_ms: float
    p99_ms: float | None
    ticks: int


@dataclass(frozen=True, slots=True)
class LoopLagSnapshot:
    running: bool
    tick_ms: float
    window_s: float
    ticks: int  # wake-ups in the window
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    stalls: dict[str, int]  # "over_50_ms" -> wake-ups at least that late, over the window
    ready_limit_ms: float  # 0: the lag never makes the process unready
    saturated: bool  # p99 over `ready_limit_ms` (when that is > 0)
    tasks: int | None = None  # asyncio tasks on the loop, counted once a second
    series: list[LoopLagPoint] = field(default_factory=list)


def _percentile(ordered: list[float], q: float) -> float:
    """Linearly interpolated percentile of sorted values (numpy's default method)."""
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _with_missed_ticks(lags_ms: list[float], tick_ms: float) -> list[float]:
    """The lags and, for each stall, the ticks it swallowed (coordinated-omission correction)."""
    values = list(lags_ms)
    for lag in lags_ms:
        missed = lag - tick_ms
        while missed >= tick_ms:
            values.append(missed)
            missed -= tick_ms
    return values


class LoopLagMonitor:
    """A ticker on one event loop and the lag figures it keeps (see the module docstring)."""

    def __init__(
        self, *, tick_ms: float = TICK_MS, window_s: float = WINDOW_S, series_s: int = SERIES_S
    ) -> None:
        self.tick_ms = tick_ms
        self.window_s = window_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()  # (monotonic s, lag ms)
        self._series: deque[LoopLagPoint] = deque(maxlen=series_s)
        self._second: int | None = None  # Unix second being accumulated
        self._second_lags: list[float] = []
        self.tasks: int | None = None
        self._tasks_counted_at = -math.inf

    @property
    def running(self) -> bool:
        return self._timer is not None and not self._stopped and not self.loop.is_closed()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start ticking on `loop` (call on that loop's thread)."""
        self.loop = loop
        self._arm(loop.time())

    def stop(self) -> None:
        """Stop ticking (from any thread)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()

    def _arm(self, now: float) -> None:
        due = now + self.tick_ms / 1000
        self._timer = self.loop.call_at(due, self._wake, due)

    def _wake(self, due: float) -> None:
        now = self.loop.time()
        if self._stopped:
            return
        self._arm(now)  # first: recording can never stop the ticker
        lag_ms = max(0.0, (now - due) * 1000)
        if now - self._tasks_counted_at >= 1.0:  # on the loop: all_tasks is safe here
            self._tasks_counted_at = now
            self.tasks = len(asyncio.all_tasks(self.loop))
        self.record(lag_ms, monotonic_s=time.monotonic(), wall_s=time.time())

    def record(self, lag_ms: float, *, monotonic_s: float, wall_s: float) -> None:
        """One wake-up, `lag_ms` late, observed at the given clocks."""
        second = int(wall_s)
        with self._lock:
            if self._second is None:
                self._second = second
            elif second > self._second:
                self._close_seconds(second, stall_start_s=wall_s - lag_ms / 1000)
            self._second_lags.append(lag_ms)
            self._samples.append((monotonic_s, lag_ms))
            cutoff = monotonic_s - self.window_s
            while self._samples[0][0] < cutoff:
                self._samples.popleft()

    def _close_seconds(self, second: int, *, stall_start_s: float) -> None:
        """Close the accumulated second, and the seconds up to `second` with no wake-up."""
        first = self._second
        for s in range(max(first, second - (self._series.maxlen or 0)), second):
            # The lag the loop had reached by the end of `s` if the stall was under way then.
            held_ms = max(0.0, (s + 1 - stall_start_s) * 1000)
            if s == first and self._second_lags:
                ordered = sorted(self._second_lags)
                point = LoopLagPoint(
                    s,
                    round(max(ordered[-1], held_ms), 3),
                    round(_percentile(ordered, 99), 3),
                    len(ordered),
                )
            else:
                point = LoopLagPoint(s, round(held_ms, 3), None, 0)
            self._series.append(point)
        self._second = second
        self._second_lags = []

    def snapshot(self, *, ready_limit_ms: float = 0.0, series: bool = False) -> LoopLagSnapshot:
        """The figures over the window, and the per-second series when `series` is true."""
        cutoff = time.monotonic() - self.window_s
        with self._lock:
            lags = [lag for at, lag in self._samples if at >= cutoff]
            points = list(self._series) if series else []
        stalls = {f"over_{ms}_ms": sum(lag >= ms for lag in lags) for ms in STALL_THRESHOLDS_MS}
        p50 = p99 = peak = None
        if lags:
            ordered = sorted(_with_missed_ticks(lags, self.tick_ms))
            p50 = round(_percentile(ordered, 50), 3)
            p99 = round(_percentile(ordered, 99), 3)
            peak = round(ordered[-1], 3)
        return LoopLagSnapshot(
            running=self.running,
            tick_ms=self.tick_ms,
            window_s=self.window_s,
            ticks=len(lags),
            p50_ms=p50,
            p99_ms=p99,
            max_ms=peak,
            stalls=stalls,
            ready_limit_ms=ready_limit_ms,
            saturated=ready_limit_ms > 0 and p99 is not None and p99 > ready_limit_ms,
            tasks=self.tasks,
            series=points,
        )


_monitor: LoopLagMonitor | None = None
_monitor_lock = threading.Lock()


def ensure_started() -> LoopLagMonitor:
    """The running loop's monitor, started on the first call from that loop.

    Called on every request and socket, so the usual path is one comparison. A call from a
    different loop (tests run one per test) stops the previous monitor and starts another.
    """
    global _monitor
    loop = asyncio.get_running_loop()
    monitor = _monitor
    if monitor is not None and monitor.loop is loop:
        return monitor
    with _monitor_lock:
        if _monitor is not None and _monitor.loop is loop:
            return _monitor
        if _monitor is not None:
            _monitor.stop()
        monitor = LoopLagMonitor()
        monitor.start(loop)
        _monitor = monitor
    logger.info("event-loop lag monitor started (tick %.0f ms)", monitor.tick_ms)
    return monitor


def current() -> LoopLagMonitor | None:
    """The process's monitor, or None before the first request reached the ASGI app."""
    return _monitor


def snapshot(*, ready_limit_ms: float = 0.0, series: bool = False) -> LoopLagSnapshot:
    """The serving loop's figures; `running` is false (and no figures) without a monitor."""
    monitor = _monitor
    if monitor is None:
        return LoopLagMonitor().snapshot(ready_limit_ms=ready_limit_ms, series=series)
    return monitor.snapshot(ready_limit_ms=ready_limit_ms, series=series)
