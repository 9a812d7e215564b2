"""Readiness checks: each one timed, bounded by a timeout, and reporting its error.

A check is a callable returning a details dict (or raising). A check of an external
`dependency` (the database, Redis) names it: when it fails, readiness is `degraded` and lists
it in `down`, since this process's live calls go on without it. A failed `required` check
makes readiness answer 503 (no new calls here); a required check of the process itself
(capacity, event loop, providers) makes it `unhealthy`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from metrics import live, loop_lag
from metrics.registry import speech_stack
from metrics.writer import writer
from voiceproject.channel_layer import own_layer

# Checks run in parallel; each is bounded so a dead dependency cannot hang readiness.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readiness")


@dataclass(frozen=True, slots=True)
class CheckResult:
    component: str
    status: str  # "healthy" | "unhealthy"
    check_time_ms: float
    required: bool
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    dependency: str | None = None  # "database", "redis": the external service checked


class CheckFailed(Exception):
    """A failed check that still reports what it measured."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True, slots=True)
class Check:
    component: str
    run: Callable[[], dict[str, Any]]
    required: bool = True
    # Checks touching the ORM run in the calling thread (Django connections are per thread).
    in_caller_thread: bool = False
    dependency: str | None = None


def _redis_backend(backend: str) -> str | None:
    return "redis" if "redis" in backend.lower() else None


def check_database() -> dict[str, Any]:
    """A query answered; with the metrics writer's buffer (writes waiting while it is down)."""
    details = {
        "vendor": connection.vendor,
        "name": str(connection.settings_dict.get("NAME", "")),
        "buffered_writes": writer.buffered,
        "lost_writes": writer.lost,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        raise CheckFailed(f"{type(exc).__name__}: {exc}".strip(), details) from exc
    return details


def check_cache() -> dict[str, Any]:
    key = f"readiness:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    value = cache.get(key)
    cache.delete(key)
    if value != "ok":
        raise RuntimeError("value written to the cache could not be read back")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def check_channel_layer() -> dict[str, Any]:
    """Send a message to a fresh channel and receive it: a real round trip through the layer."""

    async def roundtrip() -> None:
        # A layer of its own, closed after: the process's layer is receiving on the serving
        # loop, and channels_redis refuses a receive from this thread's loop at the same time
        # (the consumer's receive would fail, ending its socket).
        async with own_layer() as layer:
            channel = await layer.new_channel("readiness.")
            nonce = uuid.uuid4().hex
            await layer.send(channel, {"type": "readiness.ping", "nonce": nonce})
            message = await layer.receive(channel)
        if message.get("nonce") != nonce:
            raise RuntimeError("channel layer returned a different message")

    async def bounded() -> None:
        await asyncio.wait_for(roundtrip(), timeout=settings.REDIS_TIMEOUT_S)

    async_to_sync(bounded)()
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return {"backend": backend, "roundtrip": True}


def check_celery_broker() -> dict[str, Any]:
    from voiceproject.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.REDIS_TIMEOUT_S)
        transport = conn.transport_cls
    return {"transport": str(transport)}


def check_event_loop() -> dict[str, Any]:
    """The serving loop's lag over the last minute (`metrics.loop_lag`).

    Fails only when `LOOP_LAG_READY_MS` is above 0 and the p99 lag exceeds it: the process
    then delays every caller's audio by that much, and a load balancer should send new calls
    elsewhere. Healthy, with `running: false`, before a request has started the monitor.
    """
    snapshot = loop_lag.snapshot(ready_limit_ms=settings.LOOP_LAG_READY_MS)
    details = {
        "running": snapshot.running,
        "status": "saturated" if snapshot.saturated else "ok",
        "saturated": snapshot.saturated,
        "p50_ms": snapshot.p50_ms,
        "p99_ms": snapshot.p99_ms,
        "max_ms": snapshot.max_ms,
        "ticks": snapshot.ticks,
        "tick_ms": snapshot.tick_ms,
        "window_s": snapshot.window_s,
        "ready_limit_ms": snapshot.ready_limit_ms,
        **snapshot.stalls,
    }
    if snapshot.saturated:
        raise CheckFailed(
            f"event-loop lag p99 {snapshot.p99_ms:.0f} ms over the last {snapshot.window_s:.0f} s"
            f" exceeds LOOP_LAG_READY_MS ({snapshot.ready_limit_ms:.0f} ms)",
            details,
        )
    return details


def check_capacity() -> dict[str, Any]:
    """Conversations open in this process against `READY_MAX_SESSIONS` (0: no limit).

    At the limit the process is not ready, so a load balancer sends new calls to another
    one; the calls it holds go on.
    """
    counts = live.counts()
    limit = settings.READY_MAX_SESSIONS
    details = {
        "sessions": counts["active"],
        "acs": counts["acs"],
        "browser": counts["browser"],
        "max_sessions": limit,
    }
    if limit > 0 and counts["active"] >= limit:
        raise CheckFailed(
            f"{counts['active']} conversations open, READY_MAX_SESSIONS is {limit}", details
        )
    return details


def registered_checks() -> list[Check]:
    """The process's checks, then the speech stack's (`metrics.registry`: the TTS pool, the
    configured providers, the realtime service), then the Celery broker's."""
    cache_backend = settings.CACHES["default"]["BACKEND"]
    layer_backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    checks = [
        Check("database", check_database, in_caller_thread=True, dependency="database"),
        Check("cache", check_cache, dependency=_redis_backend(cache_backend)),
        Check("channel_layer", check_channel_layer, dependency=_redis_backend(layer_backend)),
        Check("event_loop", check_event_loop),
        Check("capacity", check_capacity),
        *speech_stack().checks(),
    ]
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        broker = _redis_backend(settings.CELERY_BROKER_URL.split(":", 1)[0])
        checks.append(
            Check("celery_broker", check_celery_broker, required=False, dependency=broker)
        )
    return checks


def _timed(check: Check) -> CheckResult:
    started = time.perf_counter()
    try:
        details, status, error = check.run(), "healthy", None
    except Exception as exc:  # noqa: BLE001  (any failure is the check's answer)
        details = exc.details if isinstance(exc, CheckFailed) else {}
        status = "unhealthy"
        error = f"{type(exc).__name__}: {exc}"
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult(
        check.component, status, elapsed_ms, check.required, error, details, check.dependency
    )


def run_checks(checks: list[Check], timeout_s: float) -> list[CheckResult]:
    """Run the checks in parallel; one that outlives `timeout_s` is reported as timed out."""
    started = time.perf_counter()
    futures = {c.component: _pool.submit(_timed, c) for c in checks if not c.in_caller_thread}
    results = []
    for check in checks:
        if check.in_caller_thread:
            results.append(_timed(check))
            continue
        remaining_s = max(timeout_s - (time.perf_counter() - started), 0.0)
        try:
            results.append(futures[check.component].result(timeout=remaining_s))
        except FutureTimeout:
            error = f"timed out after {timeout_s:.1f} s"
            results.append(
                CheckResult(
                    check.component,
                    "unhealthy",
                    timeout_s * 1000,
                    check.required,
                    error,
                    dependency=check.dependency,
                )
            )
    return results
