"""The serving loop's lag monitor: stalls show up, per loop once, started by the ASGI app."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.testing import HttpCommunicator

from metrics import loop_lag
from metrics.loop_lag import LoopLagMonitor


@pytest.fixture(autouse=True)
def no_process_monitor(monkeypatch):
    """Each test starts from a process whose loop has not been measured yet."""
    monkeypatch.setattr(loop_lag, "_monitor", None)
    yield
    if loop_lag._monitor is not None:
        loop_lag._monitor.stop()


async def test_a_blocked_loop_shows_as_a_stall():
    monitor = loop_lag.ensure_started()
    await asyncio.sleep(0.2)
    time.sleep(0.2)  # noqa: ASYNC251 - the call that holds the loop is the point
    await asyncio.sleep(0.1)

    snap = monitor.snapshot()
    assert snap.running
    assert snap.max_ms >= 150
    assert snap.stalls["over_100_ms"] >= 1
    # The ticks the stall swallowed count: a frame arriving during it waited that long.
    assert snap.p99_ms >= 100
    assert snap.ticks >= 5


async def test_a_quiet_loop_has_no_stall_over_a_second():
    monitor = loop_lag.ensure_started()
    await asyncio.sleep(0.3)
    snap = monitor.snapshot()
    assert snap.ticks >= 3
    assert snap.stalls["over_1000_ms"] == 0
    assert snap.p50_ms is not None and snap.p50_ms >= 0


async def test_started_once_per_loop():
    first = loop_lag.ensure_started()
    assert loop_lag.ensure_started() is first
    assert loop_lag.current() is first
    assert first.running


def test_a_new_loop_gets_its_own_monitor():
    async def start():
        return loop_lag.ensure_started()

    first = asyncio.run(start())
    second = asyncio.run(start())
    assert second is not first
    assert loop_lag.current() is second
    assert not first.running


@pytest.mark.django_db(transaction=True)
async def test_the_first_request_starts_the_monitor_on_the_serving_loop():
    from voiceproject.asgi import application

    def health():
        headers = [(b"host", b"testserver")]
        return HttpCommunicator(application, "GET", "/api/v1/health", headers=headers)

    assert loop_lag.current() is None
    response = await health().get_response()
    assert response["status"] == 200
    monitor = loop_lag.current()
    assert monitor is not None and monitor.loop is asyncio.get_running_loop()
    await health().get_response()
    assert loop_lag.current() is monitor


def test_a_second_the_loop_was_held_through_has_the_lag_reached_by_its_end():
    monitor = LoopLagMonitor(tick_ms=20)
    now = time.monotonic()
    for i in range(50):  # second 100: on time
        monitor.record(0.5, monotonic_s=now, wall_s=100.0 + i * 0.02)
    # Held from 100.99 to 103.5: the next wake-up is 2510 ms late.
    monitor.record(2510.0, monotonic_s=now, wall_s=103.5)
    monitor.record(0.4, monotonic_s=now, wall_s=104.01)

    series = {p.t: p for p in monitor.snapshot(series=True).series}
    assert series[100].ticks == 50 and series[100].p99_ms == pytest.approx(0.5)
    assert series[101].ticks == 0 and series[101].p99_ms is None
    assert series[101].max_ms == pytest.approx(1010, abs=1)
    assert series[102].max_ms == pytest.approx(2010, abs=1)
    assert series[103].ticks == 1 and series[103].max_ms == pytest.approx(2510)


def test_the_window_counts_the_ticks_a_stall_swallowed():
    monitor = LoopLagMonitor(tick_ms=20)
    now = time.monotonic()
    for i in range(90):
        monitor.record(1.0, monotonic_s=now, wall_s=100 + i * 0.02)
    monitor.record(1000.0, monotonic_s=now, wall_s=102)  # swallowed 49 ticks

    snap = monitor.snapshot(ready_limit_ms=100)
    assert snap.ticks == 91
    assert snap.max_ms == 1000
    assert snap.stalls == {"over_50_ms": 1, "over_100_ms": 1, "over_250_ms": 1, "over_1000_ms": 1}
    # 50 of 140 samples are the stall's: a third of the time a frame would have waited.
    assert snap.p99_ms > 900
    assert snap.saturated
    assert not monitor.snapshot(ready_limit_ms=0).saturated


def test_samples_older_than_the_window_are_dropped():
    monitor = LoopLagMonitor(tick_ms=20, window_s=60)
    now = time.monotonic()
    monitor.record(500.0, monotonic_s=now - 61, wall_s=100)
    monitor.record(1.0, monotonic_s=now, wall_s=161)
    snap = monitor.snapshot()
    assert snap.ticks == 1 and snap.max_ms == 1.0


def test_no_monitor_means_no_figures():
    snap = loop_lag.snapshot(ready_limit_ms=100)
    assert not snap.running and snap.ticks == 0
    assert snap.p99_ms is None and not snap.saturated
