"""How many real-time calls one server process holds through its WebSocket server.

`bench/acs_density.py` pushes calls straight into the engine; here they go through the real
ASGI server (daphne, or uvicorn with `websockets` or `wsproto`) in a process of its own, with
the project's consumers, codec and engine, zero-latency fake STT, LLM and TTS and the real
Silero VAD (`bench/density_settings.py`). This process is the load: one asyncio loop driving N
simulated calls over real WebSockets, every message encoded before the run. Each call speaks
1 s and listens 3 s, as in `acs_density.py`: 50 inbound messages a second, and the agent's
answer (about 1 s of 20 ms frames) coming back. With `--lb N` the calls go through the
production topology instead (`manage.py serve`: N daphne processes behind HAProxy, on
PostgreSQL and Redis); `--cpu-limit` holds each server process to a share of a core.

Per level it prints:
- the server processes' CPU per call (% of a core, from /proc/<pid>/stat) and the calls per
  core that implies, and HAProxy's and this client's CPU;
- inbound handling lag p99: the servers' own event-loop lag over the level (the per-second
  p99 series, `GET /api/v1/metrics/loop`), how late a frame arriving at a random moment is
  handled;
- outbound jitter p99 as the client receives it: |interval between two frames of one answer
  - 20 ms| (the first 3 frames of an answer leave at once by design);
- messages lost: sent by the client and never handled by the server, on the calls that stayed
  open, once the server's counts stopped catching up after the client stopped sending;
- calls refused: the TTS pool's refusals over the level (`GET /api/v1/tts/dedicated/metrics`),
  and calls the server closed before the level ended (a start failure is a 4500), neither
  counted as lost messages;
- memory per call: the server's RSS growth over the level's calls / N;
- drain: how long after the level's calls hung up the server had no live session and no
  synthesizer leased or waited for. The next level starts only then, so levels never overlap.

    .venv/bin/python bench/server_density.py --calls 5 --seconds 10            # a smoke run
    .venv/bin/python bench/server_density.py --calls 50 100 125 150 --seconds 30
    .venv/bin/python bench/server_density.py --server uvicorn-websockets --calls 100
    .venv/bin/python bench/server_density.py --transport browser --calls 100
    .venv/bin/python bench/server_density.py --idle --calls 100      # memory per idle call
    .venv/bin/python bench/server_density.py --lb 2 --cpu-limit 0.6 --calls 100 120
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.acs_density import inbound_messages
from bench.spoken.customers import FixtureDesk
from bench.spoken.play import http_json
from bench.spoken.server import (
    PRODUCTION,
    REPO,
    BenchServer,
    database_prepare,
    free_port,
    server_env,
)

FRAME_S = 0.02
SPEECH_S = 1.0  # the speech at the start of each caller cycle (`inbound_messages`)
LEAD_FRAMES = 3
ANSWER_GAP_S = 0.2  # a longer pause between two frames starts another answer
DRAIN_TIMEOUT_S = 60.0  # a level's calls not ended by then: the bench stops with the counts
SETTLE_TIMEOUT_S = 15.0  # the longest wait for the server's message counts to catch up
WARM_CALLS, WARM_S = 10, 3.0  # a level not reported: first-use costs stay out of the first one
# uvicorn without per-message deflate (its default is on): compressing base64 audio costs the
# server and the client CPU for nothing (daphne does not offer it).
SERVERS = {
    "daphne": ["daphne", "-b", "127.0.0.1", "-p", "{port}", "voiceproject.asgi:application"],
    "uvicorn-websockets": ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--ws",
                           "websockets", "--ws-per-message-deflate", "false", "--lifespan", "off",
                           "--no-access-log", "voiceproject.asgi:application"],
    "uvicorn-wsproto": ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--ws", "wsproto",
                        "--ws-per-message-deflate", "false", "--lifespan", "off",
                        "--no-access-log", "voiceproject.asgi:application"],
}  # fmt: skip
_ACS_AUDIO = '{"kind":"AudioData"'
_BROWSER_AUDIO = '{"type":"audio_data"'


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """`proc_cpu_s` of a process and its children (HAProxy's master runs its worker as one)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return proc_cpu_s(pid) + sum(tree_cpu_s(int(child)) for child in children)


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Call:
    """One simulated call on its socket: what was sent and when its audio arrived."""

    ws: object
    session_id: str
    call_connection_id: str = ""
    closed_by_server: int | None = None  # the close code, when the server ended the call
    sent: int = 1  # every message since the socket opened (the metadata first)
    received_audio: int = 0
    last_audio_at: float | None = None
    answer_frames: int = 0
    intervals: list[float] = field(default_factory=list)

    def on_audio(self, at: float) -> None:
        self.received_audio += 1
        if self.last_audio_at is None or at - self.last_audio_at > ANSWER_GAP_S:
            self.answer_frames = 0
        self.answer_frames += 1
        if self.answer_frames > LEAD_FRAMES and self.last_audio_at is not None:
            self.intervals.append(at - self.last_audio_at)
        self.last_audio_at = at


async def _read(call: Call, audio_prefix: str, loop, measuring: list[bool]) -> None:
    with contextlib.suppress(Exception):
        async for message in call.ws:
            if isinstance(message, str) and message.startswith(audio_prefix) and measuring[0]:
                call.on_audio(loop.time())
    if call.closed_by_server is None:  # the level's own hang-up cancels this task first
        call.closed_by_server = call.ws.close_code or 1006


async def open_calls(args, base_url: str, desk: FixtureDesk | None, n: int) -> list[Call]:
    from websockets.asyncio.client import connect

    from media.acs import codec

    calls = []
    ws_url = base_url.replace("http://", "ws://")
    for _ in range(n):
        if args.transport == "acs":
            call = await asyncio.to_thread(desk.ask, "call")
            url = (f"{ws_url}/api/v1/media/stream?call_connection_id="
                   f"{call['call_connection_id']}&token={call['token']}")  # fmt: skip
            ws = await connect(url, proxy=None, max_size=2**22)
            await ws.send(codec.encode_audio_metadata(16000))
            calls.append(Call(ws, call["session_id"], call["call_connection_id"]))
        else:
            # A new id each call: an anonymous page cannot take over a session it did not start.
            session_id = f"density_{uuid.uuid4().hex[:12]}"
            url = f"{ws_url}/api/v1/browser/conversation?session_id={session_id}"
            ws = await connect(url, proxy=None, max_size=2**22, origin=base_url)
            calls.append(Call(ws, session_id, sent=0))
    return calls


def browser_frames() -> list[bytes]:
    """The same 4 s cycle as `inbound_messages`, as the page's binary PCM frames."""
    from media.acs import codec

    decoder = codec.InboundDecoder()
    return [decoder.decode(m).pcm for m in inbound_messages()]


@dataclass
class Served:
    """The server under test: where calls connect, and the processes behind it."""

    url: str  # where the calls connect (a server, or the load balancer in front of several)
    backends: list[str]  # each server process's own address (status, metrics)
    pids: list[int]  # the server processes
    lb_pid: int | None = None
    stop: Callable[[], None] | None = None  # stops everything


async def backend_json(served: Served, path: str, token: str = "") -> list[dict]:
    """`path` from every server process."""
    results = await asyncio.gather(
        *(asyncio.to_thread(http_json, f"{url}{path}", token) for url in served.backends)
    )
    return [body for _, body in results]


async def pool_rejections(served: Served) -> int:
    return sum(p["rejections"] for p in await backend_json(served, "/api/v1/tts/dedicated/metrics"))


async def settle_lost(served: Served, calls: list[Call]) -> tuple[int | None, int]:
    """Inbound messages the server never handled, on the calls that stayed open, and on how
    many calls that was counted: once the client stopped sending, the server's count of each
    call's messages catches up with what was sent (a late frame is not a lost one); what it
    still lacks after 2 s without progress (at most `SETTLE_TIMEOUT_S`) is lost. Each process
    lists up to 100 of its calls (`GET /api/v1/media/status`), so above that some go
    uncounted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    open_calls_ = {c.session_id: c for c in calls if c.closed_by_server is None}
    best, still_since = None, loop.time()
    while True:
        counted = {
            s["session_id"]: s["messages_in"]
            for body in await backend_json(served, "/api/v1/media/status")
            for s in body["active_media_sessions"]["calls"]
            if s["session_id"] in open_calls_
        }
        missing = sum(open_calls_[sid].sent - n for sid, n in counted.items())
        if missing == 0 or loop.time() > deadline:
            return missing, len(counted)
        if best is None or missing < best:
            best, still_since = missing, loop.time()
        elif loop.time() - still_since > 2.0:
            return missing, len(counted)
        await asyncio.sleep(0.2)


async def run_level(
    args, served: Served, desk, token: str, n: int, seconds: float | None = None
) -> dict:
    from websockets.exceptions import ConnectionClosed

    seconds = args.seconds if seconds is None else seconds
    loop = asyncio.get_running_loop()
    rejections0 = await pool_rejections(served)
    messages = inbound_messages() if args.transport == "acs" else browser_frames()
    if args.idle:  # the caller never speaks: only the cycle's line noise
        messages = messages[int(SPEECH_S / FRAME_S) :]
    audio_prefix = _ACS_AUDIO if args.transport == "acs" else _BROWSER_AUDIO
    rss0 = sum(proc_rss_mb(pid) for pid in served.pids)
    calls = await open_calls(args, served.url, desk, n)
    measuring = [False]
    readers = [loop.create_task(_read(c, audio_prefix, loop, measuring)) for c in calls]
    offsets = [(i * 7) % len(messages) for i in range(n)]  # calls are not in lockstep

    async def drive(seconds: float) -> int:
        ticks = int(seconds / FRAME_S)
        start = loop.time()
        late = 0
        for k in range(ticks):
            delay = start + k * FRAME_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -FRAME_S:
                late += 1
            for i, call in enumerate(calls):
                if call.closed_by_server is not None:
                    continue
                try:
                    await call.ws.send(messages[(offsets[i] + k) % len(messages)])
                except ConnectionClosed:
                    call.closed_by_server = call.ws.close_code or 1006
                    continue
                call.sent += 1
        return late

    await drive(args.warmup)  # greetings played, sessions started
    measuring[0] = True
    cpu0 = sum(proc_cpu_s(pid) for pid in served.pids)
    lb0 = tree_cpu_s(served.lb_pid) if served.lb_pid else 0.0
    client0, wall0, t0 = time.process_time(), loop.time(), time.time()
    late = await drive(seconds)
    wall = loop.time() - wall0
    cpu = sum(proc_cpu_s(pid) for pid in served.pids) - cpu0
    lb_cpu = tree_cpu_s(served.lb_pid) - lb0 if served.lb_pid else None
    client_cpu = time.process_time() - client0
    measuring[0] = False
    rss = sum(proc_rss_mb(pid) for pid in served.pids)
    if args.transport == "acs":
        lost_in, counted_on = await settle_lost(served, calls)
    else:
        lost_in, counted_on = None, 0
    per_process = [b["active_media_sessions"]["active"]
                   for b in await backend_json(served, "/api/v1/media/status")] \
        if args.transport == "acs" else [
            b["active_connections"]["conversation_sessions"]
            for b in await backend_json(served, "/api/v1/browser/status")]  # fmt: skip
    lags = await backend_json(served, "/api/v1/metrics/loop", token)
    for task in readers:
        task.cancel()
    hung_up_at = loop.time()
    await asyncio.gather(*(c.ws.close() for c in calls), return_exceptions=True)
    if args.transport == "acs":
        for call in calls:
            await asyncio.to_thread(
                desk.ask, "call_end", call_connection_id=call.call_connection_id
            )
    await wait_drained(served)
    drain_s = loop.time() - hung_up_at
    lag_p99 = [
        p["p99_ms"]
        for lag in lags
        for p in lag.get("series", [])
        if t0 <= p["t"] < t0 + seconds and p["p99_ms"] is not None
    ]
    intervals = np.array([x for c in calls for x in c.intervals])
    jitter = np.abs(intervals - FRAME_S) * 1000 if intervals.size else np.array([np.nan])
    share = cpu / wall
    return {
        "calls": n,
        "processes": len(served.pids),
        "calls_per_process": per_process,
        "cpu_per_call_pct": 100 * share / n,
        "calls_per_core": n / share if share else float("inf"),
        "lb_cpu_pct": None if lb_cpu is None else 100 * lb_cpu / wall,
        "client_cpu_pct": 100 * client_cpu / wall,
        "inbound_lag_p99_ms": max(lag_p99) if lag_p99 else float("nan"),
        "jitter_p99_ms": float(np.percentile(jitter, 99)),
        "jitter_p50_ms": float(np.percentile(jitter, 50)),
        "frames_received": sum(c.received_audio for c in calls),
        "lost_inbound": lost_in,
        "lost_counted_on_calls": counted_on,
        "pool_refused": await pool_rejections(served) - rejections0,
        "closed_by_server": sum(c.closed_by_server is not None for c in calls),
        "drain_s": drain_s,
        "client_late_ticks": late,
        "rss_per_call_kb": (rss - rss0) * 1024 / n,
        "rss_mb": rss,
    }


async def wait_drained(served: Served) -> None:
    """Wait until no server process has a live session (media streams and browser
    conversations) or a synthesizer leased or waited for.

    Raises:
        RuntimeError: some were still there after `DRAIN_TIMEOUT_S` (the counts say what).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_TIMEOUT_S
    while True:
        media = await backend_json(served, "/api/v1/media/status")
        browser = await backend_json(served, "/api/v1/browser/status")
        pools = await backend_json(served, "/api/v1/tts/dedicated/metrics")
        live = sum(m["active_media_sessions"]["active"] for m in media) + sum(
            b["active_connections"]["conversation_sessions"] for b in browser
        )
        leased = sum(p["active_sessions"] for p in pools)
        waiting = sum(p["queue_depth"] for p in pools)
        if live == 0 and leased == 0 and waiting == 0:
            return
        if loop.time() > deadline:
            raise RuntimeError(
                f"the server did not drain within {DRAIN_TIMEOUT_S:.0f} s: {live} live sessions,"
                f" {leased} synthesizers leased, {waiting} waiting"
            )
        await asyncio.sleep(0.25)


def _launch(argv: list[str], env: dict, log_path: Path, urls: list[str]) -> BenchServer:
    """Start `argv` (its output to `log_path`) and wait until every one of `urls` answers
    `/api/v1/health`; the server is stopped if one does not within 60 s."""
    import urllib.request

    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = BenchServer(urls[0], process, log_path)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 60
    waiting = list(urls)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(argv[:3])} exited:\n{server.log(3000)}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{waiting[0]} did not answer:\n{server.log(3000)}")
        with (
            contextlib.suppress(OSError),
            opener.open(f"{waiting[0]}/api/v1/health", timeout=2) as r,
        ):
            if r.status == 200:
                waiting.pop(0)
                continue
        time.sleep(0.3)
    return server


def limit_cpu(served: Served, cores: float) -> None:
    """Hold each server process to `cores` of CPU (a cgroup v1 CFS quota of its own, over a
    5 ms period so that a throttled process waits milliseconds, not a 100 ms period's worth).

    On a machine with few cores this gives each process the same budget whatever the load
    client and the load balancer take, so one and several processes compare fairly.
    """
    root = Path("/sys/fs/cgroup/cpu")
    if not (root / "cgroup.procs").exists():
        raise RuntimeError("--cpu-limit needs the cgroup v1 cpu controller at /sys/fs/cgroup/cpu")
    groups = []
    for pid in served.pids:
        group = root / f"server-density-{pid}"
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text("5000")
        (group / "cpu.cfs_quota_us").write_text(str(int(cores * 5000)))
        (group / "cgroup.procs").write_text(str(pid))
        groups.append(group)
    stop = served.stop

    def stop_and_remove() -> None:
        stop()
        for group in groups:
            with contextlib.suppress(OSError):
                group.rmdir()

    served.stop = stop_and_remove


def start_server(name: str, env: dict, workdir: Path) -> Served:
    """One server process, the calls connecting to it directly."""
    port = free_port()
    argv = [str(Path(sys.executable).with_name(SERVERS[name][0]))]
    argv += [a.format(port=port) for a in SERVERS[name][1:]]
    url = f"http://127.0.0.1:{port}"
    server = _launch(argv, env, workdir / f"{name}.log", [url])
    return Served(url, [url], [server.process.pid], stop=server.stop)


def start_topology(processes: int, env: dict, workdir: Path) -> Served:
    """`manage.py serve`: N daphne processes behind HAProxy, the calls connecting to HAProxy."""
    port = free_port()
    base_port = free_port()
    while port in range(base_port, base_port + processes):
        base_port = free_port()
    serve_dir = workdir / f"serve-{processes}"
    argv = [sys.executable, "manage.py", "serve", "--processes", str(processes),
            "--port", str(port), "--base-port", str(base_port), "--no-celery",
            "--workdir", str(serve_dir)]  # fmt: skip
    backends = [f"http://127.0.0.1:{base_port + i}" for i in range(processes)]
    url = f"http://127.0.0.1:{port}"
    server = _launch(argv, env, workdir / f"serve-{processes}.log", [*backends, url])
    try:
        state = json.loads((serve_dir / "processes.json").read_text())["processes"]
    except Exception:
        server.stop()
        raise
    pids = {p["name"]: p["pid"] for p in state}
    return Served(
        url,
        backends,
        [pids[f"web.{i + 1}"] for i in range(processes)],
        lb_pid=pids["lb"],
        stop=server.stop,
    )


def row(server: str, r: dict) -> str:
    lost = "-" if r["lost_inbound"] is None else str(r["lost_inbound"])
    lb = "-" if r["lb_cpu_pct"] is None else f"{r['lb_cpu_pct']:.0f}"
    spread = "+".join(str(n) for n in r["calls_per_process"])
    return (
        f"{server:<19} {r['calls']:>5} {spread:>9} {r['cpu_per_call_pct']:>9.2f}"
        f" {r['calls_per_core']:>8.0f} {lb:>4} {r['client_cpu_pct']:>7.0f}"
        f" {r['inbound_lag_p99_ms']:>8.1f} {r['jitter_p99_ms']:>8.1f}"
        f" {r['jitter_p50_ms']:>7.1f} {lost:>6} {r['pool_refused']:>7}"
        f" {r['closed_by_server']:>6} {r['client_late_ticks']:>5} {r['rss_per_call_kb']:>8.0f}"
        f" {r['drain_s']:>7.1f}"
    )


HEADER = (
    f"{'server':<19} {'calls':>5} {'spread':>9} {'cpu%/call':>9} {'per core':>8} {'lb%':>4}"
    f" {'client%':>7} {'lag p99':>8} {'jit p99':>8} {'jit p50':>7} {'lost':>6} {'refused':>7}"
    f" {'closed':>6} {'late':>5} {'kB/call':>8} {'drain s':>7}"
)


def fresh_postgres(name: str) -> str:
    """A new, empty PostgreSQL database on the local server; its URL."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


async def main_async(args) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="server-density-"))
    if args.database_url:
        database_url = args.database_url
    elif args.lb:  # several processes write at once: SQLite would lock
        database_url = fresh_postgres("server_density")
    else:
        database_url = f"sqlite:///{workdir / 'density.sqlite3'}"
    env = server_env(
        database_url,
        {**({} if args.debug else PRODUCTION),
         "DJANGO_SETTINGS_MODULE": "bench.density_settings", "LOG_LEVEL": "WARNING",
         "SERVER_HEARTBEAT_S": "0", "TTS_PHRASE_CACHE_MB": "0"},
    )  # fmt: skip
    env.pop("REDIS_URL", None)  # one process: the in-memory channel layer
    database_prepare(env)
    desk = FixtureDesk(env)
    token = desk.ask("staff_token")["token"]
    runs = [(name, lambda name=name: start_server(name, env, workdir)) for name in args.server]
    lb_env = {**env, "REDIS_URL": args.redis_url}  # processes share conversations via Redis
    runs += [
        (f"haproxy + {n} daphne", lambda n=n: start_topology(n, lb_env, workdir)) for n in args.lb
    ]
    if args.cpu_limit:
        print(f"each server process held to {args.cpu_limit:.2f} of a core")
    print(
        f"transport {args.transport}, {args.seconds:.0f} s per level after {args.warmup:.0f} s;"
        f" each server first warmed by {WARM_CALLS} calls for {WARM_S:.0f} s, not reported"
    )
    print(HEADER)
    results = []
    try:
        for label, start in runs:
            served = start()
            try:
                if args.cpu_limit:
                    limit_cpu(served, args.cpu_limit)
                await run_level(args, served, desk, token, WARM_CALLS, seconds=WARM_S)
                for n in args.calls:
                    result = await run_level(args, served, desk, token, n)
                    results.append({"server": label, **result})
                    print(row(label, result), flush=True)
            finally:
                served.stop()
    finally:
        desk.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", nargs="*", choices=sorted(SERVERS), default=None)
    parser.add_argument(
        "--lb",
        type=int,
        nargs="+",
        default=[],
        help="also (or, without --server, only) N daphne processes behind HAProxy"
        " (`manage.py serve`), for each N given",
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument(
        "--cpu-limit",
        type=float,
        default=0.0,
        help="hold each server process to this many cores (cgroup v1 CFS quota; 0: no limit)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured, per level")
    parser.add_argument("--warmup", type=float, default=4.0, help="before measuring")
    parser.add_argument("--transport", choices=["acs", "browser"], default="acs")
    parser.add_argument(
        "--idle",
        action="store_true",
        help="the callers never speak (memory per idle call: run one level, right after start)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="default: a fresh SQLite file; with --lb a fresh PostgreSQL database",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6", help="with --lb")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--debug", action="store_true", help="DJANGO_DEBUG=1 (default: off)")
    args = parser.parse_args()
    if args.server is None:
        args.server = [] if args.lb else ["daphne"]
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
