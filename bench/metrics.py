"""Session metrics benchmark: what recording a turn costs the event loop, and writer throughput.

    .venv/bin/python bench/metrics.py                # 2000 turns over 20 sessions
    .venv/bin/python bench/metrics.py --turns 10000

On the configured database (DATABASE_URL, default SQLite in var/; run `manage.py migrate`
first). Sessions are named `bench-<random>-<n>` and deleted afterwards.

1. Event-loop cost: the time each `turn_record` call takes on a running loop (it only copies
   the event and queues it: the ORM runs on the writer thread).
2. Writer throughput: turns per second stored, from the first call to `await flush()`.
3. Paced, as a live conversation writes: one turn and the state saved after it every 20 ms
   (the writer is done with them by then); the process's CPU per turn (the writer thread's
   work: the loop is idle).
4. Tracing: the time to rebuild one turn's span tree (done on the writer thread), with an
   in-memory exporter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")

import django

django.setup()

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from media.engine.events import TurnMetrics  # noqa: E402
from metrics import services  # noqa: E402
from metrics.models import ConversationSession, Turn  # noqa: E402
from voiceproject import tracing  # noqa: E402


def _turn(session_id: str, turn_id: int) -> TurnMetrics:
    return TurnMetrics(
        session_id=session_id,
        turn_id=turn_id,
        agent="Concierge",
        user_text="I would like to check my balance please",
        assistant_text="Your balance is one hundred dollars.",
        stt_final_ms=120.0,
        llm_ttft_ms=80.0,
        llm_total_ms=300.0,
        tts_ttfb_ms=40.0,
        first_audio_ms=260.0,
        tokens_in=400,
        tokens_out=30,
        tool_calls=[{"name": "get_balance", "duration_ms": 12.0, "status": "success"}],
    )


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def _record(prefix: str, sessions: int, turns: int) -> tuple[list[float], float]:
    ids = [f"{prefix}-{n}" for n in range(sessions)]
    for session_id in ids:
        services.session_open(session_id=session_id, transport="browser")
    await services.flush()
    call_us = []
    started = time.perf_counter()
    for i in range(turns):
        session_id = ids[i % sessions]
        event = _turn(session_id, i)
        t0 = time.perf_counter_ns()
        services.turn_record(session_id=session_id, metrics=event)
        call_us.append((time.perf_counter_ns() - t0) / 1000)
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the loop breathe like a consumer would
    await services.flush()
    elapsed_s = time.perf_counter() - started
    for session_id in ids:
        services.session_close(session_id=session_id)
    await services.flush()
    return call_us, elapsed_s


async def _paced(prefix: str, turns: int) -> float:
    """CPU milliseconds per turn stored with its saved state, one pair every 20 ms."""
    session_id = f"{prefix}-paced"
    services.session_open(session_id=session_id, transport="browser")
    await services.flush()
    history = [{"role": "user", "content": "what is my balance"}] * 6
    cpu0 = time.process_time()
    for i in range(turns):
        services.turn_record(session_id=session_id, metrics=_turn(session_id, i))
        services.session_state_save(
            session_id=session_id, active_agent="Concierge", history=history, tool_state={}
        )
        await asyncio.sleep(0.02)
    await services.flush()
    cpu_ms = (time.process_time() - cpu0) * 1000 / turns
    services.session_close(session_id=session_id)
    await services.flush()
    return cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--paced", type=int, default=300, help="turns written one at a time")
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        call_us, elapsed_s = asyncio.run(_record(prefix, args.sessions, args.turns))
        paced_ms = asyncio.run(_paced(prefix, args.paced))
        stored = Turn.objects.filter(session__session_id__startswith=prefix).count()
    finally:
        ConversationSession.objects.filter(session_id__startswith=prefix).delete()
    vendor = django.db.connection.vendor
    print(f"database: {vendor}; {args.turns} turns over {args.sessions} sessions")
    print(
        f"turn_record on the event loop: p50 {statistics.median(call_us):.1f} us, "
        f"p99 {_pct(call_us, 99):.1f} us, max {max(call_us):.1f} us"
    )
    print(f"writer: {stored} turns stored in {elapsed_s:.2f} s = {stored / elapsed_s:.0f} turns/s")
    print(f"paced, a turn and its saved state at a time: {paced_ms:.2f} ms of CPU per turn")

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    span_us = []
    for i in range(1000):
        t0 = time.perf_counter_ns()
        tracing.record_turn(_turn("bench", i), session_id="bench", turn_index=i)
        span_us.append((time.perf_counter_ns() - t0) / 1000)
        exporter.clear()
    print(
        f"span tree of one turn (6 spans, writer thread): p50 {statistics.median(span_us):.1f} us,"
        f" p99 {_pct(span_us, 99):.1f} us"
    )


if __name__ == "__main__":
    main()
