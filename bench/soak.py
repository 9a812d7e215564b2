"""Soak: conversations one after another through the real browser socket; does the server leak?

    .venv/bin/python bench/soak.py                       # 1,000 conversations, SQLite
    .venv/bin/python bench/soak.py --conversations 200 --database-url postgres://...
    .venv/bin/python bench/soak.py --concurrency 8       # 8 visitors at a time

The real server (daphne, the offline stack, DEBUG off as deployed; `--debug` for `make run`'s
DEBUG on) is started on a temporary database. Each conversation is what a visitor of the page
does: open the socket, hear the greeting, type a question, get the answer, end the
conversation and leave; `--concurrency` visitors do it at once, each starting the next
conversation as soon as its last ended (a conversation lasts about 10 s: the greeting and the
answer are heard at real time). At the start
(after `--warm` conversations that fill the caches and pools) and at every tenth of the run,
the server process is measured from outside: resident memory, threads and open file
descriptors (/proc), the asyncio tasks on its loop (/api/v1/metrics/loop, counted once a
second), its live conversations and, on PostgreSQL, its database connections. Every figure
is taken after a 2 s pause, so that finished conversations have closed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.spoken.customers import FixtureDesk
from bench.spoken.server import PRODUCTION, database_prepare, server_env, server_start

QUESTIONS = (
    "What are your opening hours on Saturday?",
    "What can you help me with?",
    "I'd like to check my balance.",
)


def _proc(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def _get(url: str, token: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    with opener.open(request, timeout=10) as answer:
        return json.loads(answer.read())


def _db_connections(database_url: str) -> int | None:
    if not database_url.startswith("postgres"):
        return None
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0])


async def _conversation(base_url: str, index: int) -> None:
    import websockets

    url = base_url.replace("http", "ws", 1) + "/api/v1/browser/conversation"
    async with websockets.connect(url, origin=base_url, max_size=None) as ws:
        greeted = answered = False
        sent = False
        async for raw in ws:
            if isinstance(raw, bytes):
                continue
            message = json.loads(raw)
            kind, payload = message.get("type"), message.get("payload") or {}
            if kind == "assistant" and payload.get("is_greeting"):
                greeted = True
            if greeted and not sent:
                question = QUESTIONS[index % len(QUESTIONS)]
                await ws.send(json.dumps({"type": "text", "text": question}))
                sent = True
            if kind == "event" and payload.get("type") == "assistant" and sent:
                answered = True  # then the visitor leaves the page (the answer still playing)
                await ws.send(json.dumps({"type": "end"}))
                break
        if not answered:
            raise RuntimeError(f"conversation {index} got no answer")


async def _conversations(base_url: str, indexes: range, concurrency: int) -> int:
    """Run these conversations, `concurrency` at a time; the number that failed."""
    pending = iter(indexes)
    failures = 0

    async def visitor() -> None:
        nonlocal failures
        for index in pending:
            try:
                await asyncio.wait_for(_conversation(base_url, index), 60)
            except (OSError, RuntimeError, TimeoutError) as exc:  # counted; the soak goes on
                failures += 1
                print(f"conversation {index}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(visitor() for _ in range(max(1, concurrency))))
    return failures


def _sample(pid: int, base_url: str, token: str, database_url: str, done: int) -> dict:
    loop = _get(f"{base_url}/api/v1/metrics/loop", token)
    status = _get(f"{base_url}/api/v1/browser/status", token)
    return {
        "conversations": done,
        **_proc(pid),
        "tasks": loop.get("tasks"),
        "live": status["active_connections"]["conversation_sessions"],
        "db_connections": _db_connections(database_url),
    }


async def main_async(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    database_url = args.database_url or f"sqlite:///{workdir}/soak.sqlite3"
    # INFO: the ready line `server_start` waits for. DEBUG off unless asked: with it on, Django
    # keeps the last 9,000 queries of every database connection (one per worker thread), which
    # grows for thousands of conversations and is not what a deployment runs.
    env = server_env(database_url, {} if args.debug else PRODUCTION)
    database_prepare(env)
    desk = FixtureDesk(env)
    token = desk.ask("staff_token")["token"]
    desk.close()
    server = server_start(env, workdir)
    pid = server.process.pid
    samples = []
    failures = 0
    started = time.monotonic()
    try:
        for index in range(args.warm):  # first syntheses, caches and pools fill up
            await _conversation(server.url, -1 - index)
        await asyncio.sleep(2)
        samples.append(_sample(pid, server.url, token, database_url, 0))
        step = max(1, args.conversations // 10)
        for first in range(1, args.conversations + 1, step):
            indexes = range(first, min(first + step, args.conversations + 1))
            failures += await _conversations(server.url, indexes, args.concurrency)
            # Measured between tenths, with no conversation open.
            await asyncio.sleep(2)
            samples.append(_sample(pid, server.url, token, database_url, indexes[-1]))
            print(json.dumps(samples[-1]), flush=True)
    finally:
        server.stop()
    first, last = samples[0], samples[-1]
    per_k = 1000 / max(1, last["conversations"])
    print(
        f"\n{args.conversations} conversations in {time.monotonic() - started:.0f} s, "
        f"{args.concurrency} at a time, {failures} failed; load {os.getloadavg()[0]:.2f}"
    )
    print("conversations   RSS MB  threads  fds  tasks  live  db conns")
    for s in samples:
        print(
            f"{s['conversations']:>13} {s['rss_kb'] / 1024:8.1f} {s['threads']:>8} {s['fds']:>4} "
            f"{s['tasks'] if s['tasks'] is not None else '-':>6} {s['live'] or 0:>5} "
            f"{s['db_connections'] if s['db_connections'] is not None else '-':>9}"
        )
    memory_mb = (last["rss_kb"] - first["rss_kb"]) / 1024 * per_k
    print(
        f"growth per 1,000 conversations: memory {memory_mb:+.1f} MB, "
        f"threads {(last['threads'] - first['threads']) * per_k:+.0f}, "
        f"fds {(last['fds'] - first['fds']) * per_k:+.0f}, "
        f"tasks {((last['tasks'] or 0) - (first['tasks'] or 0)) * per_k:+.0f}"
    )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--debug", action="store_true", help="DJANGO_DEBUG=1, as `make run`")
    parser.add_argument("--warm", type=int, default=20, help="conversations before the baseline")
    parser.add_argument("--concurrency", type=int, default=1, help="visitors at a time")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
