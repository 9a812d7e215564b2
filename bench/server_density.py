"""How many real-time calls one server process holds through its WebSocket server.

`bench/acs_density.py` pushes calls straight into the engine; here they go through the real
ASGI server (daphne, or uvicorn with `websockets` or `wsproto`) in a process of its own, with
the project's consumers, codec and engine, zero-latency fake STT, LLM and TTS and the real
Silero VAD (`bench/density_settings.py`). This process is the load: one asyncio loop driving N
simulated calls over real WebSockets, every message encoded before the run. Each call speaks
1 s and listens 3 s, as in `acs_density.py`: 50 inbound messages a second, and the agent's
answer (about 1 s of 20 ms frames) coming back.

Per level it prints:
- the server's CPU per call (% of a core, from /proc/<pid>/stat) and the calls per core that
  implies;
- inbound handling lag p99: the server's own event-loop lag over the level (its per-second
  p99 series, `GET /api/v1/metrics/loop`), how late a frame arriving at a random moment is
  handled;
- outbound jitter p99 as the client receives it: |interval between two frames of one answer
  - 20 ms| (the first 3 frames of an answer leave at once by design);
- messages lost: sent by the client and not counted by the server, on the calls that stayed
  open;
- calls refused: the TTS pool's refusals over the level (`GET /api/v1/tts/dedicated/metrics`),
  and calls the server closed before the level ended (a start failure is a 4500), neither
  counted as lost messages;
- memory per call: the server's RSS growth over the level's calls / N;
- drain: how long after the level's calls hung up the server had no live session and no
  synthesizer leased or waited for. The next level starts only then, so levels never overlap.

    .venv/bin/python bench/server_density.py --calls 5 --seconds 10            # a smoke run
    .venv/bin/python bench/server_density.py --server daphne uvicorn-websockets uvicorn-wsproto \\
        --calls 50 100 150 200 --seconds 30
    .venv/bin/python bench/server_density.py --transport browser --calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.acs_density import inbound_messages
from bench.spoken.customers import FixtureDesk
from bench.spoken.play import http_json
from bench.spoken.server import PRODUCTION, REPO, database_prepare, free_port, server_env

FRAME_S = 0.02
LEAD_FRAMES = 3
ANSWER_GAP_S = 0.2  # a longer pause between two frames starts another answer
DRAIN_TIMEOUT_S = 60.0  # a level's calls not ended by then: the bench stops with the counts
SERVERS = {
    "daphne": ["daphne", "-b", "127.0.0.1", "-p", "{port}", "voiceproject.asgi:application"],
    "uvicorn-websockets": ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--ws",
                           "websockets", "--lifespan", "off", "--no-access-log",
                           "voiceproject.asgi:application"],
    "uvicorn-wsproto": ["uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--ws", "wsproto",
                        "--lifespan", "off", "--no-access-log", "voiceproject.asgi:application"],
}  # fmt: skip
_ACS_AUDIO = '{"kind":"AudioData"'
_BROWSER_AUDIO = '{"type":"audio_data"'


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    sent: int = 0
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
    for i in range(n):
        if args.transport == "acs":
            call = await asyncio.to_thread(desk.ask, "call")
            url = (f"{ws_url}/api/v1/media/stream?call_connection_id="
                   f"{call['call_connection_id']}&token={call['token']}")  # fmt: skip
            ws = await connect(url, proxy=None, max_size=2**22)
            await ws.send(codec.encode_audio_metadata(16000))
            calls.append(Call(ws, call["session_id"], call["call_connection_id"]))
        else:
            session_id = f"density_{os.getpid()}_{i}"
            url = f"{ws_url}/api/v1/browser/conversation?session_id={session_id}"
            ws = await connect(url, proxy=None, max_size=2**22, origin=base_url)
            calls.append(Call(ws, session_id))
    return calls


def browser_frames() -> list[bytes]:
    """The same 4 s cycle as `inbound_messages`, as the page's binary PCM frames."""
    from media.acs import codec

    decoder = codec.InboundDecoder()
    return [decoder.decode(m).pcm for m in inbound_messages()]


async def run_level(args, server_pid: int, base_url: str, desk, token: str, n: int) -> dict:
    from websockets.exceptions import ConnectionClosed

    loop = asyncio.get_running_loop()
    _, pool0 = await asyncio.to_thread(http_json, f"{base_url}/api/v1/tts/dedicated/metrics")
    messages = inbound_messages() if args.transport == "acs" else browser_frames()
    audio_prefix = _ACS_AUDIO if args.transport == "acs" else _BROWSER_AUDIO
    rss0 = proc_rss_mb(server_pid)
    calls = await open_calls(args, base_url, desk, n)
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
                call.sent += measuring[0]
        return late

    await drive(args.warmup)  # greetings played, sessions started
    measuring[0] = True
    _, before = await asyncio.to_thread(http_json, f"{base_url}/api/v1/media/status")
    streams = before["active_media_sessions"]["calls"]
    in_before = {c["session_id"]: c["messages_in"] for c in streams}
    cpu0, wall0, t0 = proc_cpu_s(server_pid), loop.time(), time.time()
    late = await drive(args.seconds)
    cpu, wall = proc_cpu_s(server_pid) - cpu0, loop.time() - wall0
    await asyncio.sleep(0.5)  # what is in flight lands
    measuring[0] = False
    rss = proc_rss_mb(server_pid)
    _, after = await asyncio.to_thread(http_json, f"{base_url}/api/v1/media/status")
    _, lag = await asyncio.to_thread(http_json, f"{base_url}/api/v1/metrics/loop", token)
    for task in readers:
        task.cancel()
    hung_up_at = loop.time()
    await asyncio.gather(*(c.ws.close() for c in calls), return_exceptions=True)
    if args.transport == "acs":
        for call in calls:
            await asyncio.to_thread(
                desk.ask, "call_end", call_connection_id=call.call_connection_id
            )
    pool = await wait_drained(base_url)
    drain_s = loop.time() - hung_up_at
    in_after = {c["session_id"]: c for c in after["active_media_sessions"]["calls"]}
    lost_in = sum(
        c.sent - (in_after[c.session_id]["messages_in"] - in_before.get(c.session_id, 0))
        for c in calls
        if c.session_id in in_after and c.closed_by_server is None
    )
    series = [p for p in lag.get("series", []) if t0 <= p["t"] < t0 + args.seconds]
    lag_p99 = [p["p99_ms"] for p in series if p["p99_ms"] is not None]
    intervals = np.array([x for c in calls for x in c.intervals])
    jitter = np.abs(intervals - FRAME_S) * 1000 if intervals.size else np.array([np.nan])
    share = cpu / wall
    return {
        "calls": n,
        "cpu_per_call_pct": 100 * share / n,
        "calls_per_core": n / share if share else float("inf"),
        "inbound_lag_p99_ms": max(lag_p99) if lag_p99 else float("nan"),
        "jitter_p99_ms": float(np.percentile(jitter, 99)),
        "jitter_p50_ms": float(np.percentile(jitter, 50)),
        "frames_received": sum(c.received_audio for c in calls),
        "lost_inbound": lost_in if args.transport == "acs" else None,
        "pool_refused": pool["rejections"] - pool0["rejections"],
        "closed_by_server": sum(c.closed_by_server is not None for c in calls),
        "drain_s": drain_s,
        "client_late_ticks": late,
        "rss_per_call_kb": (rss - rss0) * 1024 / n,
    }


async def wait_drained(base_url: str) -> dict:
    """Wait until the server has no live session (media streams and browser conversations)
    and no synthesizer leased or waited for; returns the pool's metrics then.

    Raises:
        RuntimeError: the server still had some after `DRAIN_TIMEOUT_S` (the counts say what).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_TIMEOUT_S
    while True:
        _, media = await asyncio.to_thread(http_json, f"{base_url}/api/v1/media/status")
        _, browser = await asyncio.to_thread(http_json, f"{base_url}/api/v1/browser/status")
        _, pool = await asyncio.to_thread(http_json, f"{base_url}/api/v1/tts/dedicated/metrics")
        live = (
            media["active_media_sessions"]["active"]
            + browser["active_connections"]["conversation_sessions"]
        )
        if live == 0 and pool["active_sessions"] == 0 and pool["queue_depth"] == 0:
            return pool
        if loop.time() > deadline:
            raise RuntimeError(
                f"the server did not drain within {DRAIN_TIMEOUT_S:.0f} s: {live} live sessions,"
                f" {pool['active_sessions']} synthesizers leased, {pool['queue_depth']} waiting"
            )
        await asyncio.sleep(0.25)


def start_server(name: str, env: dict, workdir: Path):
    import subprocess
    import urllib.request

    port = free_port()
    argv = [str(Path(sys.executable).with_name(SERVERS[name][0]))]
    argv += [a.format(port=port) for a in SERVERS[name][1:]]
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - open for the server's life
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((workdir / f"{name}.log").read_text()[-3000:])
        with contextlib.suppress(OSError), opener.open(f"{url}/api/v1/health", timeout=2) as r:
            if r.status == 200:
                return process, url
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{name} did not start")


def row(server: str, r: dict) -> str:
    lost = "-" if r["lost_inbound"] is None else str(r["lost_inbound"])
    return (
        f"{server:<19} {r['calls']:>5} {r['cpu_per_call_pct']:>9.2f} {r['calls_per_core']:>8.0f}"
        f" {r['inbound_lag_p99_ms']:>9.1f} {r['jitter_p99_ms']:>9.1f}"
        f" {r['jitter_p50_ms']:>7.1f} {lost:>6} {r['pool_refused']:>7}"
        f" {r['closed_by_server']:>7} {r['client_late_ticks']:>5} {r['rss_per_call_kb']:>8.0f}"
        f" {r['drain_s']:>7.1f}"
    )


async def main_async(args) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="server-density-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'density.sqlite3'}"
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
    print(f"transport {args.transport}, {args.seconds:.0f} s per level after {args.warmup:.0f} s")
    print(f"{'server':<19} {'calls':>5} {'cpu%/call':>9} {'per core':>8} {'lag p99':>9}"
          f" {'jit p99':>9} {'jit p50':>7} {'lost':>6} {'refused':>7} {'closed':>7}"
          f" {'late':>5} {'kB/call':>8} {'drain s':>7}")  # fmt: skip
    results = []
    try:
        for server in args.server:
            process, url = start_server(server, env, workdir)
            try:
                for n in args.calls:
                    result = await run_level(args, process.pid, url, desk, token, n)
                    results.append({"server": server, **result})
                    print(row(server, result), flush=True)
            finally:
                process.terminate()
                process.wait(timeout=10)
    finally:
        desk.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", nargs="+", choices=sorted(SERVERS), default=["daphne"])
    parser.add_argument("--calls", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured, per level")
    parser.add_argument("--warmup", type=float, default=4.0, help="before measuring")
    parser.add_argument("--transport", choices=["acs", "browser"], default="acs")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--debug", action="store_true", help="DJANGO_DEBUG=1 (default: off)")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
