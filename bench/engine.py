"""Speech engine benchmark: engine overhead and barge-in with fakes; the offline stack end to end.

    .venv/bin/python bench/engine.py                 # both parts
    .venv/bin/python bench/engine.py --turns 500     # more fake turns
    .venv/bin/python bench/engine.py --skip-offline  # fakes only (seconds)
    .venv/bin/python bench/engine.py --skip-fakes --offline-runs 3   # offline stack, 3 runs
    .venv/bin/python bench/engine.py --skip-fakes --no-speculation --eot-ms 500  # as before
    .venv/bin/python bench/engine.py --skip-fakes --barge-in  # offline: true onset -> stop
    .venv/bin/python bench/engine.py --skip-fakes --barge-in --pause-ms 0  # without the pause
    .venv/bin/python bench/engine.py --skip-fakes --skip-offline --greetings 20  # phrase cache

Part 1 (zero-latency fakes: scripted STT, instant scripted LLM, instant tone TTS, energy VAD,
real-time pacing, synchronous emit). Each turn: 200 ms of speech, then silence; the clock
starts just before the frame that completes the end-of-turn silence is pushed and stops when
the first audio frame of the answer reaches `emit`. Measured twice: "speculated" (the loop
runs during the pause, so the answer is prepared after `speculative_silence_ms` and held:
the end-of-turn frame only releases it) and "computed at end of turn" (all silence frames
pushed in one go, so the STT's answer, LLM, chunker and TTS run after the end of turn).
40 ms into the answer the caller speaks again: the clock starts before the frame on which the
barge-in gate passes (VAD onset decision) and stops when `BargeIn` reaches `emit`; every
audio frame of the cancelled turn emitted after it is counted (must be 0).

Part 2 (offline stack: Silero VAD, Whisper tiny.en, rules engine, piper; default EngineConfig):
20 utterances spoken by piper are fed at real time in 20 ms frames; the true end of speech is
the end of the last 10 ms of the utterance above -40 dBFS; the clock stops at the first agent
audio frame. The load average is printed before and after each run.

Part 2 with --barge-in (same stack): a typed request makes the agent talk; 300 ms into its
spoken answer one of the utterances is fed at real time; the clock runs from the utterance's
true onset (the start of its first 10 ms above -40 dBFS) to the stop event of the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.engine.audio import resample, rms_dbfs, silence, tone
from media.engine.config import EngineConfig
from media.engine.events import (
    AssistantFinal,
    AudioFrame,
    AudioPause,
    BargeIn,
    TurnMetrics,
    UserTranscript,
)
from media.engine.session import ConversationSession
from media.engine.snapshot import AgentRoster, AgentSnapshot, ToolSpec
from media.providers import DEFAULT_PROVIDERS, ProviderSet, build_providers
from media.providers.fakes import EnergyVAD, FakeTTS, ScriptedLLM, ScriptedSTT

SPEECH = tone(20, 16000, 220.0, 0.5)
QUIET = silence(20, 16000)
SENTENCES = [
    "thank you for calling how can i help you today",
    "i would like to check the balance on my account",
    "my order has not arrived yet",
    "can you reset my password please",
    "i was charged twice for the same purchase",
    "what are your opening hours on saturday",
    "please transfer me to a human agent",
    "i want to cancel my subscription",
    "the delivery address needs to be updated",
    "is there a fee for changing my flight",
]


class NoTools:
    def run(self, name, arguments, context):
        return {"success": True}


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return (
        f"p50 {pct(50):.3f}  p95 {pct(95):.3f}  p99 {pct(99):.3f}  "
        f"max {ordered[-1]:.3f}  (n={len(ordered)})"
    )


async def bench_fakes(turns: int, speculate: bool) -> dict[str, list[float]]:
    agent = AgentSnapshot("Bench", greeting="")
    roster = AgentRoster({"Bench": agent}, "Bench")
    answer = "Sure, here is the answer to that. And a second sentence to keep talking for a while."
    llm = ScriptedLLM(respond=lambda request: [answer])
    stt = ScriptedSTT(default="what is my balance", partial_every_frames=0)
    providers = ProviderSet(stt=stt, tts=FakeTTS(ms_per_char=40), llm=llm, vad=EnergyVAD())
    first_audio: dict[int, float] = {}
    stops: dict[int, float] = {}  # the first stop on the wire: the pause
    cancels: dict[int, float] = {}
    stale = [0]
    events = {"eot_turn": None}

    def emit(event) -> None:
        now = time.perf_counter()
        kind = type(event)
        if kind is AudioFrame:
            if event.turn_id in stops:
                stale[0] += 1
            elif event.turn_id not in first_audio:
                first_audio[event.turn_id] = now
        elif kind is AudioPause or kind is BargeIn:
            stops.setdefault(event.turn_id, now)
            if kind is BargeIn:
                cancels[event.turn_id] = now
        elif kind is UserTranscript and event.is_final:
            events["eot_turn"] = event.turn_id

    config = EngineConfig()  # defaults: 400 ms end of turn, 200 ms speculation, 120 ms gate
    session = ConversationSession(
        session_id="bench", roster=roster, providers=providers, tool_runner=NoTools(),
        emit=emit, output_sample_rate_hz=16000, config=config,
    )  # fmt: skip
    await session.start()
    silence_frames = config.end_of_turn_silence_ms // 20
    pause_frames = config.barge_in_pause_ms // 20
    gate_frames = config.barge_in_min_speech_ms // 20
    eot_ms: list[float] = []
    barge_ms: list[float] = []
    cancel_ms: list[float] = []
    gc.collect()
    gc.freeze()
    for _ in range(turns):
        for _ in range(10):
            session.push_audio(SPEECH)
        if speculate:
            spec_frames = config.speculative_silence_ms // 20
            for _ in range(spec_frames):
                session.push_audio(QUIET)
            synthesized = len(providers.tts.texts)
            while len(providers.tts.texts) == synthesized:  # noqa: ASYNC110 - a bench poll
                await asyncio.sleep(0)
            await asyncio.sleep(0.005)  # the held answer is complete
            for _ in range(silence_frames - spec_frames - 1):
                session.push_audio(QUIET)
        else:
            for _ in range(silence_frames - 1):
                session.push_audio(QUIET)
        t0 = time.perf_counter()
        session.push_audio(QUIET)  # the frame that completes the end-of-turn silence
        while events["eot_turn"] is None or events["eot_turn"] not in first_audio:  # noqa: ASYNC110
            await asyncio.sleep(0)
        turn_id = events["eot_turn"]
        events["eot_turn"] = None
        eot_ms.append((first_audio[turn_id] - t0) * 1000)
        await asyncio.sleep(0.04)  # let the answer play for a moment
        for _ in range(pause_frames - 1):
            session.push_audio(SPEECH)
        t1 = time.perf_counter()
        session.push_audio(SPEECH)  # the frame on which the pause gate passes
        if turn_id not in stops:
            raise RuntimeError("no stop")
        barge_ms.append((stops[turn_id] - t1) * 1000)
        for _ in range(gate_frames - pause_frames - 1):
            session.push_audio(SPEECH)
        t2 = time.perf_counter()
        session.push_audio(SPEECH)  # the frame on which the barge-in gate passes
        if turn_id not in cancels:
            raise RuntimeError("no barge-in")
        cancel_ms.append((cancels[turn_id] - t2) * 1000)
        await asyncio.sleep(0.06)  # anything stale would surface now
    gc.unfreeze()
    await session.close()
    return {"eot": eot_ms, "barge": barge_ms, "cancel": cancel_ms, "stale": [float(stale[0])]}


def _loud_windows(pcm16k: bytes) -> list[int]:
    """Byte offsets of the 10 ms windows above -40 dBFS."""
    window = 320  # 10 ms at 16 kHz, bytes
    return [
        i
        for i in range(0, len(pcm16k) - window + 1, window)
        if rms_dbfs(pcm16k[i : i + window]) > -40
    ]


def true_end_ms(pcm16k: bytes) -> float:
    """End of the last 10 ms window above -40 dBFS."""
    loud = _loud_windows(pcm16k)
    return (loud[-1] + 320) / 2 / 16000 * 1000 if loud else 0.0


def true_onset_ms(pcm16k: bytes) -> float:
    """Start of the first 10 ms window above -40 dBFS."""
    loud = _loud_windows(pcm16k)
    return loud[0] / 2 / 16000 * 1000 if loud else 0.0


async def bench_offline(
    utterances: int, config: EngineConfig, runs: int, barge_in: bool = False
) -> list[list[float]]:
    from media.providers.local import LocalTTS

    tts = LocalTTS(engine="piper")
    from media.engine.threads import SessionWorkers, ThreadBridge
    from media.providers.base import ProviderContext

    loop = asyncio.get_running_loop()
    await tts.start(ProviderContext("bench", SessionWorkers(ThreadBridge.for_loop(loop))))
    clips = []
    for i in range(utterances):
        text = SENTENCES[i % len(SENTENCES)]
        pcm = b"".join([c async for c in tts.synthesize(text, None)])  # type: ignore[arg-type]
        clips.append(resample(pcm, tts.sample_rate_hz, 16000))

    lookup = ToolSpec("check_order_status", "Check the status of an order or delivery.")
    agent = AgentSnapshot("Offline", greeting="", tools=(lookup,))
    roster = AgentRoster({"Offline": agent}, "Offline")
    factory = build_providers(DEFAULT_PROVIDERS)
    factory.preload()
    all_runs = []
    for run in range(runs):
        print(f"  run {run + 1}/{runs}: load average before {load_average()}")
        measure = _barge_in_run if barge_in else _offline_run
        results = await measure(clips, roster, factory, config)
        print(f"  run {run + 1}: {percentiles(results)}; load average after {load_average()}")
        all_runs.append(results)
    return all_runs


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def _offline_run(clips, roster, factory, config: EngineConfig) -> list[float]:
    first_audio: dict[int, float] = {}
    finals: dict[int, str] = {}
    metrics: dict[int, TurnMetrics] = {}

    def emit(event) -> None:
        if type(event) is AudioFrame and event.turn_id not in first_audio:
            first_audio[event.turn_id] = time.perf_counter()
        elif type(event) is UserTranscript and event.is_final:
            finals[event.turn_id] = event.text
        elif type(event) is TurnMetrics:
            metrics[event.turn_id] = event

    session = ConversationSession(
        session_id="offline", roster=roster, providers=factory.create(), tool_runner=NoTools(),
        emit=emit, output_sample_rate_hz=16000, config=config,
    )  # fmt: skip
    await session.start()
    results: list[float] = []
    for clip in clips:
        audio = silence(300, 16000) + clip + silence(1500, 16000)
        end_offset_s = (300 + true_end_ms(clip)) / 1000
        start = time.perf_counter()
        true_end = start + end_offset_s
        seen = set(first_audio)
        for n, i in enumerate(range(0, len(audio) - 639, 640)):
            # real time: frame n is pushed when its last sample has "arrived"
            delay = start + (n + 1) * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            session.push_audio(audio[i : i + 640])
            new = set(first_audio) - seen
            if new:
                break
        while not set(first_audio) - seen:  # noqa: ASYNC110 - a bench poll
            await asyncio.sleep(0.005)
        turn_id = max(set(first_audio) - seen)
        results.append((first_audio[turn_id] - true_end) * 1000)
        await session.interrupt("next utterance")
        m = metrics.get(turn_id)

        def ms(value: float | None) -> str:
            return "    ?" if value is None else f"{value:5.0f}"

        print(
            f"  {results[-1]:7.1f} ms (engine's first_audio_ms {ms(m and m.first_audio_ms)},"
            f" stt final {ms(m and m.stt_final_ms)}, tts first byte {ms(m and m.tts_ttfb_ms)})"
            f"  heard: {finals.get(turn_id, '')!r}"
        )
        await asyncio.sleep(0.3)
    await session.close()
    return results


async def _barge_in_run(clips, roster, factory, config: EngineConfig) -> list[float]:
    """True speech onset -> stop event, the caller interrupting a spoken answer."""
    first_audio: dict[int, float] = {}
    stops: dict[int, float] = {}
    cancelled: set[int] = set()
    stale = [0]

    def emit(event) -> None:
        kind = type(event)
        if kind is BargeIn:
            cancelled.add(event.turn_id)
        if kind is AudioFrame:
            if event.turn_id in cancelled:
                stale[0] += 1
            elif event.turn_id not in first_audio:
                first_audio[event.turn_id] = time.perf_counter()
        elif (kind is AudioPause or kind is BargeIn) and event.turn_id not in stops:
            stops[event.turn_id] = time.perf_counter()  # the first stop on the wire

    session = ConversationSession(
        session_id="offline-barge-in", roster=roster, providers=factory.create(),
        tool_runner=NoTools(), emit=emit, output_sample_rate_hz=16000, config=config,
    )  # fmt: skip
    await session.start()
    results: list[float] = []
    for clip in clips:
        seen = set(first_audio)
        await session.send_text("where is my order")
        while not set(first_audio) - seen:  # noqa: ASYNC110 - a bench poll
            await asyncio.sleep(0.005)
        speaking = max(set(first_audio) - seen)
        await asyncio.sleep(0.3)  # the agent is talking
        audio = silence(100, 16000) + clip + silence(600, 16000)
        start = time.perf_counter()
        onset = start + (100 + true_onset_ms(clip)) / 1000
        for n, i in enumerate(range(0, len(audio) - 639, 640)):
            delay = start + (n + 1) * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            session.push_audio(audio[i : i + 640])
        if speaking not in stops:
            print("  no stop: the interruption was not detected")
            continue
        results.append((stops[speaking] - onset) * 1000)
        print(f"  {results[-1]:7.1f} ms true onset -> stop")
        answered = time.perf_counter() + 5
        while max(first_audio) <= speaking and time.perf_counter() < answered:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the interruption is answered
        await session.interrupt("next utterance")
        await asyncio.sleep(0.3)
    await session.close()
    print(f"  audio frames of a cancelled turn after its stop: {stale[0]}")
    return results


class CachedTTS:
    """The session's TTS through the process's phrase cache, as `media.conversation` sets it."""

    def __init__(self, inner, cache) -> None:
        self.inner = inner
        self.cache = cache

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def synthesize(self, text, voice):
        from media.providers.phrase_cache import synthesize_cached

        return synthesize_cached(self.cache, "bench", self.inner, text, voice)


async def bench_greetings(sessions: int) -> dict[str, list[float]]:
    """Session start -> first greeting frame, piper, without and with the phrase cache."""
    from dataclasses import replace

    from media.providers.phrase_cache import PhraseCache

    greeting = "Hello, thank you for calling. How can I help you today?"
    roster = AgentRoster({"Offline": AgentSnapshot("Offline", greeting=greeting)}, "Offline")
    factory = build_providers(DEFAULT_PROVIDERS)
    factory.preload()
    results: dict[str, list[float]] = {}
    for label, cache in (("synthesized", None), ("phrase cache", PhraseCache(32 << 20))):
        results[label] = []
        for i in range(sessions + 1):
            first: list[float] = []
            done = asyncio.Event()

            def emit(event, first=first, done=done) -> None:
                if type(event) is AudioFrame and not first:
                    first.append(time.perf_counter())
                elif type(event) is AssistantFinal:
                    done.set()

            providers = factory.create()
            if cache is not None:
                providers = replace(providers, tts=CachedTTS(providers.tts, cache))
            session = ConversationSession(
                session_id=f"greet-{i}", roster=roster, providers=providers,
                tool_runner=NoTools(), emit=emit, output_sample_rate_hz=16000,
            )  # fmt: skip
            started = time.perf_counter()
            await session.start()
            ready = time.perf_counter()
            while not first:  # noqa: ASYNC110 - a bench poll
                await asyncio.sleep(0.001)
            if i:  # the first session of each series warms up (and fills the cache)
                results[label].append((first[0] - started) * 1000)
                results.setdefault(f"{label}, providers' start", []).append(
                    (ready - started) * 1000
                )
            await done.wait()  # the greeting was spoken (a phrase is kept once synthesized)
            await session.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--utterances", type=int, default=20)
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument(
        "--greetings", type=int, default=0, help="offline: N sessions' greeting, cache off/on"
    )
    parser.add_argument("--skip-fakes", action="store_true")
    parser.add_argument("--offline-runs", type=int, default=1)
    parser.add_argument("--eot-ms", type=int, default=EngineConfig().end_of_turn_silence_ms)
    parser.add_argument("--spec-ms", type=int, default=EngineConfig().speculative_silence_ms)
    parser.add_argument("--no-speculation", action="store_true")
    parser.add_argument(
        "--barge-in", action="store_true", help="offline stack: true speech onset -> stop"
    )
    parser.add_argument(
        "--pause-ms",
        type=int,
        default=EngineConfig().barge_in_pause_ms,
        help="barge_in_pause_ms (0: no pause, the stop waits for the barge-in gate)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load {load_average()}")
    if not args.skip_fakes:
        for speculate in (True, False):
            label = "speculated" if speculate else "computed at end of turn"
            print(f"\n[1] zero-latency fakes, {args.turns} turns, answer {label} (ms)")
            fakes = await bench_fakes(args.turns, speculate)
            print(f"  end of turn -> first audio frame emitted: {percentiles(fakes['eot'])}")
            print(f"  VAD onset decision -> stop event (pause): {percentiles(fakes['barge'])}")
            print(f"  barge-in gate -> BargeIn (cancel):        {percentiles(fakes['cancel'])}")
            print(f"  audio frames of a cancelled turn after its stop: {int(fakes['stale'][0])}")
    if args.greetings:
        print(f"\n[3] greeting, session start -> first audio frame (ms), piper, {args.greetings}")
        for label, values in (await bench_greetings(args.greetings)).items():
            print(f"  {label:30s} {percentiles(values)}; load average {load_average()}")
    if args.skip_offline:
        return
    config = EngineConfig(
        end_of_turn_silence_ms=args.eot_ms,
        speculative_silence_ms=0 if args.no_speculation else args.spec_ms,
        barge_in_pause_ms=args.pause_ms,
    )
    print(
        f"\n[2] offline stack (Silero, Whisper, rules, piper), {args.utterances} utterances,"
        f" end of turn {config.end_of_turn_silence_ms} ms,"
        f" speculation {config.speculative_silence_ms or 'off'} ms"
    )
    runs = await bench_offline(args.utterances, config, args.offline_runs, args.barge_in)
    measured = "true speech onset -> stop" if args.barge_in else "true end of speech -> first audio"
    for i, offline in enumerate(runs, 1):
        print(f"  run {i}: {measured} (ms): {percentiles(offline)}")
        print(f"         mean {statistics.mean(offline):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
