"""How many real-time ACS calls one process sustains, what a call costs, and how steady it is.

Each simulated call is what the media socket does for a `media` call, minus the WebSocket
framing: 50 inbound `AudioData` JSON messages a second are decoded with the real codec
(`media.acs.codec`, base64 included) and pushed into a `ConversationSession` running Silero VAD
(the shared ONNX model, a per-call state) with zero-latency fake STT, LLM and TTS; the agent's
answers leave through the engine's real-time pacer and are encoded as outbound `AudioData`.
The caller talks for 1 s (a synthetic voiced signal that Silero scores as speech), then listens
for 3 s, over and over; silence is low noise (-50 dBFS) so that the VAD model runs on every
window, as on a real phone line. Every utterance is a turn: the agent answers it.

All calls share one event loop (one process, one core's worth of Python), driven by one 20 ms
tick like the sockets of a server. Per level of concurrency it prints:
- CPU per call (% of a core) and calls per core it implies,
- the tick lag p99 (how late the inbound frames are handled),
- outbound frame jitter p99: |interval between two frames of one answer - 20 ms|,
- memory per idle session (RSS growth / sessions, with the VAD model already loaded).

    .venv/bin/python bench/acs_density.py                      # 50, 100, 200, 300 calls
    .venv/bin/python bench/acs_density.py --calls 100 400 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")

from media.acs import codec
from media.engine.config import EngineConfig
from media.engine.events import AudioFrame, AudioPause, BargeIn
from media.engine.session import ConversationSession
from media.engine.snapshot import AgentRoster, AgentSnapshot
from media.providers import ProviderSet
from media.providers.fakes import FakeTTS, ScriptedLLM, ScriptedSTT
from media.providers.vad import SileroVAD

FRAME_S = 0.02
ANSWER = "Your balance is one hundred dollars."  # about 1.1 s: over before the caller speaks
# About 3.6 s: still playing when the caller speaks again, so every cycle has a barge-in.
LONG_ANSWER = "Your balance is one hundred dollars, and your last payment arrived on Monday. " * 2
VAD_MODES = {
    "batched": {},  # one ONNX run per loop iteration for all calls, on the loop
    "worker": {"batch_in_worker": True},  # the same run in the engine's worker pool
    "single": {"batch": False},  # one run per window per call
}
LEAD_FRAMES = EngineConfig().output_lead_ms // 20
RATE = 16000


class NoTools:
    def run(self, name, arguments, context):
        return {"success": False, "error": "no tools in this benchmark"}


ROSTER = AgentRoster(
    agents={"Agent": AgentSnapshot(name="Agent", instructions="Answer briefly.", greeting="")},
    entry_agent="Agent",
)


def synthetic_voice(seconds: float) -> np.ndarray:
    """A voiced, syllabic signal that Silero scores as speech (a pure tone scores about 0.1).

    Harmonics of a gliding 110-170 Hz pitch shaped by two formants that change vowel every
    syllable, four syllables a second, with a little breath noise.
    """
    rng = np.random.default_rng(11)
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    formants = np.array([[700, 1200], [300, 2300], [500, 900], [400, 2000]])[
        np.floor(t * 4).astype(int) % 4
    ]
    x = np.zeros_like(t)
    for k in range(1, 30):
        gain = 0.05 + sum(np.exp(-((((k * f0) - formants[:, j]) / 120.0) ** 2)) for j in range(2))
        x += gain * np.sin(k * phase) / k
    x = x * 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) + rng.standard_normal(t.size) * 0.01
    return (x / np.abs(x).max() * 0.4 * 32767).astype(np.int16)


def inbound_messages() -> list[str]:
    """One 4 s caller cycle as ACS JSON messages: 1 s of speech, 3 s of line noise."""
    rng = np.random.default_rng(7)
    speech = synthetic_voice(1.0)
    noise = (rng.standard_normal(RATE * 3) * 32767 * 10 ** (-50 / 20)).astype(np.int16)
    pcm = np.concatenate([speech, noise]).tobytes()
    frames = [pcm[i : i + 640] for i in range(0, len(pcm), 640)]
    return [
        codec.encode_inbound_audio(
            f, timestamp="2026-01-01T00:00:00.000Z", participant_raw_id="4:+1", silent=False
        )
        for f in frames
    ]


class Call:
    """One call's server side: decoder → session → encoder, with outbound timing."""

    def __init__(self, index: int, vad: dict | None = None, answer: str = ANSWER) -> None:
        self.index = index
        self.decoder = codec.InboundDecoder()
        self.sent = 0
        self.stops = 0
        self.last_frame_at: dict[int, float] = {}
        self.intervals: list[float] = []
        self.speech_started_at: float | None = None
        self.stopped_turn: int | None = None  # as the media consumer: one StopAudio per stop
        self.barge_in_ms: list[float] = []  # caller's first speech frame in → stop out
        self.reaction_ms: list[float] = []  # VAD decision → stop out (the engine's figure)
        self.loop = asyncio.get_running_loop()
        providers = ProviderSet(
            stt=ScriptedSTT(default="what is my balance", partial_every_frames=0),
            tts=FakeTTS(ms_per_char=30.0, chunk_ms=200.0),
            # The same answer to every turn (a script of one entry per turn would keep
            # a thousand lists per call alive, which a real call does not have).
            llm=ScriptedLLM(respond=lambda request: [answer]),
            vad=SileroVAD(**(vad or {})),
        )
        self.session = ConversationSession(
            session_id=f"bench-{index}",
            roster=ROSTER,
            providers=providers,
            tool_runner=NoTools(),
            emit=self.emit,
            output_sample_rate_hz=RATE,
            config=EngineConfig(),
        )

    def emit(self, event) -> None:
        kind = type(event)
        if kind is AudioFrame:
            now = self.loop.time()
            message = codec.encode_audio_data(event.pcm)  # what goes on the socket
            self.sent += len(message) > 0
            last = self.last_frame_at.get(event.turn_id)
            # The first `lead` frames of an answer leave at once by design (60 ms lead).
            if last is not None and event.index > LEAD_FRAMES:
                self.intervals.append(now - last)
            self.last_frame_at[event.turn_id] = now
            self.stopped_turn = None
        elif kind is AudioPause or kind is BargeIn:
            # The pause puts the StopAudio on the wire; the barge-in right after it sends none.
            if kind is BargeIn and self.stopped_turn == event.turn_id:
                return
            self.stopped_turn = event.turn_id
            self.stops += len(codec.STOP_AUDIO) > 0
            by_speech = kind is AudioPause or event.reason == "barge_in"
            if by_speech and self.speech_started_at is not None:
                self.barge_in_ms.append((self.loop.time() - self.speech_started_at) * 1000)
                self.reaction_ms.append(event.reaction_ms)
                self.speech_started_at = None

    def receive(self, text: str, speech_starts: bool = False) -> None:
        if speech_starts:
            self.speech_started_at = self.loop.time()
        message = self.decoder.decode(text)
        if type(message) is codec.AudioData:
            self.session.push_audio(message.pcm, RATE)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


async def idle_memory(sessions: int, vad: dict) -> float:
    """Bytes per started, idle session (the Silero model is loaded before measuring)."""
    warm = Call(-1, vad)
    await warm.session.start()
    gc.collect()
    before = rss_mb()
    calls = [Call(i, vad) for i in range(sessions)]
    for call in calls:
        await call.session.start()
    gc.collect()
    after = rss_mb()
    for call in [warm, *calls]:
        await call.session.close()
    return (after - before) * 1e6 / sessions


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def run_level(
    n: int, seconds: float, messages: list[str], vad: dict, phases: int, answer: str
) -> dict:
    calls = [Call(i, vad, answer) for i in range(n)]
    for call in calls:
        await call.session.start()
    loop = asyncio.get_running_loop()
    batcher = calls[0].session.providers.vad.batcher if calls else None
    runs0, items0 = (batcher.runs, batcher.items_run) if batcher else (0, 0)
    ticks = int(seconds / FRAME_S)
    lags: list[float] = []
    offsets = [(i * 7) % len(messages) for i in range(n)]  # calls are not in lockstep
    # Calls' frames arrive in `phases` groups spread over the 20 ms (1: all at once).
    groups = [list(range(g, n, phases)) for g in range(phases)]
    cpu0 = time.process_time()
    wall0 = loop.time()
    start = loop.time()
    for k in range(ticks):
        for g, members in enumerate(groups):
            due = start + (k + g / phases) * FRAME_S
            delay = due - loop.time()
            # Behind schedule the feeder still yields once per group, as sockets would: the
            # batched VAD and the pacers' timers run between two groups of frames.
            await asyncio.sleep(delay if delay > 0 else 0)
            lags.append(max(0.0, loop.time() - due))
            for i in members:
                position = (offsets[i] + k) % len(messages)
                calls[i].receive(messages[position], speech_starts=position == 0)
    await asyncio.sleep(0.1)
    cpu = time.process_time() - cpu0
    wall = loop.time() - wall0
    for call in calls:
        await call.session.close()
    intervals = np.array([x for c in calls for x in c.intervals]) if calls else np.array([])
    jitter = np.abs(intervals - FRAME_S) * 1000 if intervals.size else np.array([0.0])
    cpu_share = cpu / wall
    runs = batcher.runs - runs0 if batcher else 0
    barge = [x for c in calls for x in c.barge_in_ms]
    reaction = [x for c in calls for x in c.reaction_ms]
    return {
        "calls": n,
        "cpu_per_call_pct": 100 * cpu_share / n,
        "calls_per_core": n / cpu_share if cpu_share else float("inf"),
        "tick_lag_p99_ms": float(np.percentile(np.array(lags) * 1000, 99)),
        "jitter_p99_ms": float(np.percentile(jitter, 99)),
        "jitter_p50_ms": float(np.percentile(jitter, 50)),
        "frames_out": sum(c.sent for c in calls),
        "stops": sum(c.stops for c in calls),
        "bad_input": sum(sum(c.decoder.rejected.values()) for c in calls),
        "batch_mean": (batcher.items_run - items0) / runs if runs else 1.0,
        "barge_in_p50_ms": pct(barge, 50),
        "barge_in_p99_ms": pct(barge, 99),
        "reaction_p99_ms": pct(reaction, 99),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[50, 100, 200, 300])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--idle-sessions", type=int, default=200)
    parser.add_argument("--vad", choices=sorted(VAD_MODES), default="batched")
    parser.add_argument("--batch-max", type=int, default=None, help="windows per ONNX run")
    parser.add_argument("--phases", type=int, default=1, help="arrival groups per 20 ms tick")
    parser.add_argument(
        "--barge-in", action="store_true", help="answers outlast the pause: a barge-in per cycle"
    )
    args = parser.parse_args()
    import django

    django.setup()
    logging.disable(logging.INFO)  # one line per barge-in otherwise
    vad = dict(VAD_MODES[args.vad])
    if args.batch_max:
        vad["batch_max"] = args.batch_max
    answer = LONG_ANSWER if args.barge_in else ANSWER
    messages = inbound_messages()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"vad {args.vad} {vad}, arrival phases {args.phases}, barge-in cycles {args.barge_in}")
    per_idle = await idle_memory(args.idle_sessions, vad)
    print(f"memory per idle session: {per_idle / 1e3:.0f} kB ({args.idle_sessions} sessions)")
    print(
        "calls  cpu/call  calls/core  tick lag p99  jitter p50  jitter p99  batch"
        "  frames out  stops  barge-in p50/p99  reaction p99"
    )
    for n in args.calls:
        r = await run_level(n, args.seconds, messages, vad, args.phases, answer)
        print(
            f"{r['calls']:5d}  {r['cpu_per_call_pct']:6.2f} %  {r['calls_per_core']:10.0f}"
            f"  {r['tick_lag_p99_ms']:9.1f} ms  {r['jitter_p50_ms']:7.1f} ms"
            f"  {r['jitter_p99_ms']:7.1f} ms  {r['batch_mean']:5.1f}"
            f"  {r['frames_out']:10d}  {r['stops']:5d}"
            f"  {r['barge_in_p50_ms']:6.0f}/{r['barge_in_p99_ms']:.0f} ms"
            f"  {r['reaction_p99_ms']:8.2f} ms"
        )
        sys.stdout.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"peak RSS {peak:.0f} MB (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    asyncio.run(main())
