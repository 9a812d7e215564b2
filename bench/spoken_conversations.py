"""Spoken banking conversations through the real sockets, judged as a caller would judge them.

    .venv/bin/python bench/spoken_conversations.py                       # everything, one at a time
    .venv/bin/python bench/spoken_conversations.py --voices piper-joe --scenarios balance keypad
    .venv/bin/python bench/spoken_conversations.py --transport browser --stt pocketsphinx
    .venv/bin/python bench/spoken_conversations.py --concurrency 4      # loop lag under load

It renders the scenarios (`bench/spoken/scenarios.py`) in each voice (`bench.spoken.render`,
cached under var/spoken/), starts the real server (daphne on a free loopback port, this
checkout's settings, a fresh SQLite database or `--database-url`, migrated, agents loaded), and
plays every scenario into the ACS media socket and the browser conversation socket at real time
from this process. Figures are the caller's: word error rate of the server's transcripts
against what was said, digits and names heard right, task done (tool calls, verification,
handoffs, final state in the database), true end of speech → first agent audio, barge-in stop
time and stale frames, the server's own first_audio_ms against the client's, and the server's
event-loop lag (`GET /api/v1/readiness`, polled during the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spoken.customers import FixtureDesk
from bench.spoken.judge import ConversationResult
from bench.spoken.play import http_json, play_conversation, recording_load
from bench.spoken.render import DEFAULT_OUT, VOICES, render, voices_get
from bench.spoken.scenarios import BY_KEY, scenarios_get
from bench.spoken.server import database_prepare, server_env, server_start

READINESS_EVERY_S = 3.0
SERIES_EVERY_S = 60.0
SERVER_DIFF_OK_MS = 50  # the server's first_audio_ms should be this close to the caller's figure


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _rate(pairs: list[bool]) -> str:
    return "-" if not pairs else f"{100 * sum(pairs) / len(pairs):.0f}%"


def summarize(results: list[ConversationResult]) -> dict:
    turns = [t for r in results for t in r.turns]
    words = sum(t.ref_words for t in turns)
    client = [t.client_ms for t in turns if t.client_ms is not None]
    diffs = [t.client_ms - t.server_ms for t in turns
             if t.client_ms is not None and t.server_ms is not None]  # fmt: skip
    barge = [r.barge_in for r in results if r.barge_in and r.barge_in.agent_was_speaking]
    stops = [b.stop_ms for b in barge if b.stop_ms is not None]
    return {
        "conversations": len(results),
        "task_done": sum(r.task_done for r in results),
        "wer": (sum(t.edits for t in turns) / words) if words else None,
        "digits": [ok for t in turns for _, ok in t.digits],
        "names": [ok for t in turns for _, ok in t.names],
        "first_audio_p50": _pct(client, 50),
        "first_audio_p95": _pct(client, 95),
        "unanswered": sum(1 for t in turns if t.client_ms is None and not t.dtmf),
        "server_diff_mean": float(np.mean(diffs)) if diffs else None,
        "server_diff_max": max(diffs) if diffs else None,
        "server_within_50": [abs(d) <= SERVER_DIFF_OK_MS for d in diffs],
        "barge_ins": len(barge),
        "barge_stop_p50": _pct(stops, 50),
        "barge_stop_max": max(stops) if stops else None,
        "barge_missed": len(barge) - len(stops),
        "stale_frames": sum(b.stale_frames for b in barge),
        "talked_over": sum(1 for t in turns if t.talked_over_frames),
    }


HEADER = (
    f"{'':18} {'calls':>5} {'done':>5} {'WER':>6} {'digits':>6} {'names':>6} "
    f"{'p50':>5} {'p95':>5} {'no ans':>6} {'srv Δ':>6} {'Δ max':>6} {'≤50':>5} "
    f"{'barge':>5} {'stop':>5} {'stale':>5} {'over':>4}"
)


def row(label: str, s: dict) -> str:
    wer = "-" if s["wer"] is None else f"{100 * s['wer']:.1f}%"
    return (
        f"{label:18} {s['conversations']:>5} {s['task_done']:>5} {wer:>6} "
        f"{_rate(s['digits']):>6} {_rate(s['names']):>6} {_ms(s['first_audio_p50']):>5} "
        f"{_ms(s['first_audio_p95']):>5} {s['unanswered']:>6} {_ms(s['server_diff_mean']):>6} "
        f"{_ms(s['server_diff_max']):>6} {_rate(s['server_within_50']):>5} "
        f"{s['barge_ins']:>5} {_ms(s['barge_stop_p50']):>5} "
        f"{s['stale_frames']:>5} {s['talked_over']:>4}"
    )


def print_tables(results: list[ConversationResult], voices: list[str]) -> None:
    print(
        "\ncalls/done: conversations and tasks done; WER over all spoken turns; digits, names: "
        "heard right;\np50/p95: true end of speech → first agent audio (ms, client); no ans: "
        "turns without an answer;\nsrv Δ / Δ max / ≤50: client figure − server first_audio_ms "
        "(mean, max, share of turns within 50 ms);\nbarge/stop/stale: barge-ins over a speaking "
        "agent, true onset → first stop p50 (ms), agent frames after the stop;\nover: turns "
        "the agent talked over"
    )
    for voice in voices:
        mine = [r for r in results if r.voice == voice]
        if not mine:
            continue
        print(f"\n{voice}\n{HEADER}")
        for transport in ("acs", "browser"):
            subset = [r for r in mine if r.transport == transport]
            if subset:
                print(row(transport, summarize(subset)))
        for r in mine:
            if not r.task_done:
                print(f"  ✗ {r.transport:7} {r.scenario}: " + "; ".join(r.failures())[:400])
    print(f"\ntotals\n{HEADER}")
    for transport in ("acs", "browser"):
        subset = [r for r in results if r.transport == transport]
        if subset:
            print(row(transport, summarize(subset)))
    print(row("all", summarize(results)))


def _loop_lag(report: dict) -> dict | None:
    """The readiness report's event-loop lag entry, wherever it sits (absent: None)."""
    if isinstance(report.get("event_loop"), dict):
        return report["event_loop"]
    for check in report.get("checks") or []:
        if check.get("component") == "event_loop":
            return check.get("details") or {}
    return None


class LoopWatch:
    """The server's event-loop lag during the run: the readiness figures (every 3 s) and the
    per-second series of `GET /api/v1/metrics/loop` (staff token, every 60 s; it keeps 300 s),
    so a stall can be placed in time and beside the conversations running then."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token
        self.samples: list[tuple[float, dict]] = []  # (Unix time, readiness event_loop)
        self.series: dict[int, dict] = {}  # Unix second -> {max_ms, p99_ms, ticks}

    async def run(self, stop: asyncio.Event) -> None:
        last_series = 0.0
        while not stop.is_set():
            _, body = await asyncio.to_thread(http_json, f"{self.base_url}/api/v1/readiness")
            lag = _loop_lag(body)
            if lag is not None:
                self.samples.append((time.time(), lag))
            if time.monotonic() - last_series >= SERIES_EVERY_S:
                await self.fetch_series()
                last_series = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), READINESS_EVERY_S)

    async def fetch_series(self) -> None:
        url = f"{self.base_url}/api/v1/metrics/loop"
        status, body = await asyncio.to_thread(http_json, url, self.token)
        if status == 200:
            for point in body.get("series") or []:
                self.series[int(point["t"])] = point

    def report(self, spans: list[tuple[float, float, str]]) -> None:
        """Figures while calls were running (the server's start-up is left out)."""
        if not self.samples or not spans:
            print("\nloop lag: /api/v1/readiness reports no event_loop entry")
            return
        first, last = min(s for s, _, _ in spans), max(e for _, e, _ in spans)
        window_s = float(self.samples[0][1].get("window_s") or 60)
        polls = [lag for at, lag in self.samples if at - window_s >= first and at <= last + 1]

        def values(key: str) -> list[float]:
            return [float(p[key]) for p in polls if isinstance(p.get(key), int | float)]

        p50, p99, top = values("p50_ms"), values("p99_ms"), values("max_ms")
        print(
            f"\nserver loop lag, readiness ({len(polls)} polls whose {window_s:.0f} s window "
            f"lies within the calls): p50 {_ms(_pct(p50, 50))} ms, p99 up to "
            f"{_ms(max(p99) if p99 else None)} ms, max {_ms(max(top) if top else None)} ms"
        )
        seconds = {t: p for t, p in self.series.items() if first <= t <= last}
        if not seconds:
            return
        stalls = [(p["max_ms"], t) for t, p in seconds.items() if p["max_ms"] >= 100]
        worst = max(p["max_ms"] for p in seconds.values())
        print(
            f"per second (/api/v1/metrics/loop): worst {worst:.0f} ms; {len(stalls)} of "
            f"{len(seconds)} seconds with a lag of 100 ms or more"
        )
        for lag_ms, t in sorted(stalls, reverse=True)[:5]:
            during = [label for start, end, label in spans if start - 1 <= t <= end + 1]
            print(f"  {time.strftime('%H:%M:%S', time.localtime(t))} {lag_ms:.0f} ms; calls: "
                  + (", ".join(during) or "none"))  # fmt: skip


async def run(args, jobs, base_url, desk, token, spans: list) -> list[ConversationResult]:
    results: list[ConversationResult] = []
    in_flight: set[str] = set()
    pending = list(jobs)
    changed = asyncio.Condition()

    async def worker() -> None:
        while True:
            async with changed:
                await changed.wait_for(
                    lambda: not pending or any(j[0].key not in in_flight for j in pending)
                )
                job = next((j for j in pending if j[0].key not in in_flight), None)
                if job is None:
                    return
                pending.remove(job)
                in_flight.add(job[0].key)
            scenario, recording, transport = job
            started, wall_start = time.monotonic(), time.time()
            try:
                result, _ = await play_conversation(
                    base_url=base_url, desk=desk, staff_token=token, scenario=scenario,
                    recording=recording, transport=transport,
                )  # fmt: skip
            finally:
                async with changed:
                    in_flight.discard(scenario.key)
                    changed.notify_all()
            results.append(result)
            spans.append((wall_start, time.time(), f"{recording.voice}/{transport}/{scenario.key}"))
            mark = "✓" if result.task_done else "✗"
            heard = " / ".join(t.heard for t in result.turns)
            print(
                f"{mark} {recording.voice:10} {transport:7} {scenario.key:14} "
                f"{time.monotonic() - started:5.1f} s  heard: {heard[:150]}",
                flush=True,
            )
            if args.verbose and not result.task_done:
                print("    " + "\n    ".join(result.failures()), flush=True)
            timed = [t for t in result.turns if t.client_ms is not None and t.server_ms is not None]
            for t in timed if args.verbose else ():
                if abs(t.client_ms - t.server_ms) > SERVER_DIFF_OK_MS:
                    print(
                        f"    srv Δ {t.client_ms - t.server_ms:+.0f} ms (client "
                        f"{t.client_ms:.0f}, server {t.server_ms:.0f}): {t.said[:70]}"
                    )

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return results


async def main_async(args) -> int:
    voices = voices_get(args.voices)
    scenarios = scenarios_get(args.scenarios)
    transports = ["acs", "browser"] if args.transport == "both" else [args.transport]
    t0 = time.monotonic()
    render(voices, scenarios, args.out)
    print(f"rendered {len(voices)} voices × {len(scenarios)} scenarios in "
          f"{time.monotonic() - t0:.1f} s → {args.out}")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="spoken-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'spoken.sqlite3'}"
    env = server_env(database_url, {"STT_PROVIDER": args.stt})
    await asyncio.to_thread(database_prepare, env)
    server = await asyncio.to_thread(server_start, env, workdir)
    desk = await asyncio.to_thread(FixtureDesk, env)
    print(f"server {server.url} (STT_PROVIDER={args.stt}), log {server.log_path}")
    jobs = [
        (scenario, recording_load(args.out, voice.key, scenario.key), transport)
        for voice in voices
        for transport in transports
        for scenario in scenarios
    ]
    load_before = os.getloadavg()
    token = (await asyncio.to_thread(desk.ask, "staff_token"))["token"]
    watch, spans = LoopWatch(server.url, token), []
    stop = asyncio.Event()
    poller = asyncio.create_task(watch.run(stop))
    try:
        results = await asyncio.wait_for(
            run(args, jobs, server.url, desk, token, spans), args.max_minutes * 60
        )
    finally:
        stop.set()
        await poller
        await watch.fetch_series()
        desk.close()
        server.stop()
    load_after = os.getloadavg()
    print_tables(results, [v.key for v in voices])
    watch.report(spans)
    print(
        f"\nload average {load_before[0]:.2f} → {load_after[0]:.2f}; concurrency "
        f"{args.concurrency}; {time.strftime('%Y-%m-%d %H:%M')}; wall {time.monotonic() - t0:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps([_as_dict(r) for r in results], indent=1, default=str))
        series = [{"t": t, **point} for t, point in sorted(watch.series.items())]
        args.json.with_suffix(".loop.json").write_text(json.dumps(series))
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r.task_done for r in results) else 1


def _as_dict(result: ConversationResult) -> dict:
    from dataclasses import asdict

    return asdict(result) | {"task_done": result.task_done}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", nargs="*", help=f"default: all of {', '.join(VOICES)}")
    parser.add_argument("--scenarios", nargs="*", help=f"default: all of {', '.join(BY_KEY)}")
    parser.add_argument("--transport", choices=["acs", "browser", "both"], default="both")
    parser.add_argument("--stt", choices=["whisper", "pocketsphinx"], default="whisper")
    parser.add_argument("--concurrency", type=int, default=1, help="conversations at once")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="rendered audio")
    parser.add_argument(
        "--json", type=Path, help="write every result here (and the loop-lag series to .loop.json)"
    )
    parser.add_argument("--max-minutes", type=float, default=90.0, help="give up after this")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and server log")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each failure")
    args = parser.parse_args()
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        voices_get(args.voices), scenarios_get(args.scenarios)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
