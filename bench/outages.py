"""Recovery from Redis and PostgreSQL outages under a live call.

    .venv/bin/python bench/outages.py                # 3 outages of each
    .venv/bin/python bench/outages.py --cycles 5 --outage-s 5

Starts this run's own `redis-server` and PostgreSQL cluster and a daphne server on them with
fake speech (`testing.outages`, as `tests/deploy/test_outages.py` does), holds one browser
conversation over the socket, and `--cycles` times stops Redis, speaks a turn, waits
`--outage-s`, starts it again; then the same with PostgreSQL. Per outage it prints:

- detected: dependency stopped → readiness answers 503 naming it;
- the turn spoken during the outage: its end of speech → first audio (the conversation's
  own figure, from `turn_metrics`);
- ready again: dependency back (Redis answers PING, `pg_ctl start -w` returned) → readiness
  answers 200, polled every 20 ms;
- stored (PostgreSQL): dependency back → the turns spoken during the outage are in the
  database (the metrics writer retries after 0.25 s, doubling up to 2 s).

And once: how long the servers took to start (initdb, PostgreSQL, Redis, migrate, daphne).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testing.outages import Conversation, OutageStack, missing_binaries

POLL_S = 0.02


async def outage(stack: OutageStack, call: Conversation, name: str, outage_s: float) -> dict:
    """One outage of `name` (redis or database) under the call; its figures."""
    server = stack.redis if name == "redis" else stack.postgres
    spoken_before = len(call.answered_turns())
    stopped = time.monotonic()
    await asyncio.to_thread(server.stop)
    detected_s, body = await asyncio.to_thread(stack.wait_readiness, status=503, interval_s=POLL_S)
    assert name in body["down"], body
    turn = await call.turn()
    await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - stopped)))
    await asyncio.to_thread(server.start)
    ready_s, _ = await asyncio.to_thread(stack.wait_readiness, status=200, interval_s=POLL_S)
    figures = {"detected_s": detected_s, "first_audio_ms": turn["first_audio_ms"]}
    figures["ready_s"] = ready_s
    if name == "database":
        figures["stored_s"] = ready_s + await asyncio.to_thread(
            stack.wait_stored, call.session_id, spoken_before + 1, interval_s=POLL_S
        )
    return figures


async def run(stack: OutageStack, cycles: int, outage_s: float) -> dict[str, list[dict]]:
    call = await Conversation.open(stack.url, f"bench_outage_{uuid.uuid4().hex[:8]}")
    await call.turn()
    results: dict[str, list[dict]] = {"redis": [], "database": []}
    for name in results:
        for _ in range(cycles):
            results[name].append(await outage(stack, call, name, outage_s))
            await call.turn()  # and after it
    await call.hang_up()
    return results


def show(results: dict[str, list[dict]], timings_s: dict[str, float]) -> None:
    print("start-up: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings_s.items()))
    print(f"{'dependency':<10} {'figure':<46} {'median':>8} {'max':>8}")
    labels = {
        "detected_s": "stopped -> readiness 503 (s)",
        "first_audio_ms": "turn during the outage: first audio (ms)",
        "ready_s": "back -> readiness 200 (s)",
        "stored_s": "back -> turns of the outage stored (s)",
    }
    for name, rows in results.items():
        for key, label in labels.items():
            values = [row[key] for row in rows if row.get(key) is not None]
            if values:
                print(
                    f"{name:<10} {label:<46} {statistics.median(values):>8.2f} {max(values):>8.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=3, help="outages of each dependency")
    parser.add_argument("--outage-s", type=float, default=3.0, help="how long each lasts")
    args = parser.parse_args()
    missing = missing_binaries()
    if missing:
        sys.exit(f"needs {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="bench-outages-") as workdir:
        stack = OutageStack.start(Path(workdir))
        try:
            results = asyncio.run(run(stack, args.cycles, args.outage_s))
        except BaseException:
            print(stack.log(), file=sys.stderr)
            raise
        finally:
            stack.close()
    show(results, stack.timings_s)


if __name__ == "__main__":
    main()
