"""Event-loop stalls while pocketsphinx decodes: worker threads (before) vs. worker processes.

    .venv/bin/python bench/pocketsphinx_procs.py
    .venv/bin/python bench/pocketsphinx_procs.py --sessions 2 --pace realtime --voice espeak

A 5 ms ticker runs on the event loop of this process (the serving process) while `--sessions`
sessions decode the same ~6 s of speech (piper's voice, no random variation, or espeak-ng's).
Each mode is measured on its own, after its decoders are loaded:

- `threads, whole`: `process_raw(pcm, full_utt=True)` of the whole utterance in a worker thread
  (how `reference/recognition.md` measured the 3 s stall).
- `threads, stream`: what PocketsphinxSTT did before: one drain job per session in the worker
  thread pool, `process_raw` per 20 ms frame, `hyp()` every 200 ms, `end_utt()` at the end.
- `processes`: PocketsphinxSTT now (the worker process pool; audio sent in 100 ms chunks).

`--pace burst` pushes the whole utterance at once (the worst case: a test, a reconnecting
caller, a backlog); `realtime` one 20 ms frame every 20 ms. Printed per mode: the longest stall
of the ticker, its 99th percentile, and the time from the last frame pushed to the last final.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.engine.audio import resample, silence
from media.engine.snapshot import VoiceSpec
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers.base import ProviderContext, SttResult
from media.providers.local import LocalTTS
from media.providers.pocketsphinx import PocketsphinxSTT

TEXT = (
    "My name is Jonathan Miller. I would like to check the balance on my savings account, "
    "the one ending in four eight."
)
FRAME_BYTES = 640
_END = object()


async def speech(voice: str) -> bytes:
    """About 6 s of the sentence at 16 kHz PCM16, 100 ms of silence before, 200 ms after."""
    if voice == "espeak":
        espeak = await asyncio.create_subprocess_exec(
            "espeak-ng", "-v", "en-us+f2", "-s", "145", "--stdout", TEXT,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        wav, _ = await espeak.communicate()
        pcm, rate = wav[44:], int.from_bytes(wav[24:28], "little")
    else:
        tts = LocalTTS(engine="piper", noise_scale=0.0, noise_w_scale=0.0)
        loop = asyncio.get_running_loop()
        await tts.start(ProviderContext("bench", SessionWorkers(ThreadBridge.for_loop(loop))))
        pcm = b"".join([chunk async for chunk in tts.synthesize(TEXT, VoiceSpec())])
        rate = tts.sample_rate_hz
    return silence(100, 16000) + resample(pcm, rate, 16000) + silence(200, 16000)


class ThreadedSession:
    """Before: the decoder in this process's worker thread pool (a drain job per session)."""

    def __init__(self, bridge: ThreadBridge, whole: bool) -> None:
        from pocketsphinx import Decoder

        self.bridge = bridge
        self.whole = whole
        self.decoder = Decoder(loglevel="FATAL")
        self.final: asyncio.Future[str] = bridge.loop.create_future()
        self._queue: deque = deque()
        self._running = False
        self._frames = 0

    def begin(self) -> None:
        self.decoder.start_utt()

    def push(self, frame: bytes) -> None:
        self._queue.append(frame)
        self._schedule()

    def end(self) -> None:
        self._queue.append(_END)
        self._schedule()

    def _schedule(self) -> None:
        if not self._running:
            self._running = True
            self.bridge.submit(self._drain).add_done_callback(self._drained)

    def _drained(self, fut: asyncio.Future) -> None:
        self._running = False
        if self._queue:
            self._schedule()

    def _drain(self) -> None:
        decoder = self.decoder
        while self._queue:
            item = self._queue.popleft()
            if item is _END:
                decoder.end_utt()
                hyp = decoder.hyp()
                self.bridge.post(self.final.set_result, hyp.hypstr if hyp else "")
            elif self.whole:
                decoder.process_raw(item, False, True)
            else:
                decoder.process_raw(item, False, False)
                self._frames += 1
                if self._frames % 10 == 0:
                    decoder.hyp()


class ProcessSession:
    """Now: PocketsphinxSTT, decoding in the worker processes."""

    def __init__(self, stt: PocketsphinxSTT, loop: asyncio.AbstractEventLoop) -> None:
        self.stt = stt
        self.final: asyncio.Future[str] = loop.create_future()
        stt.set_listener(self._on_result)

    def _on_result(self, result: SttResult) -> None:
        if result.is_final and not self.final.done():
            self.final.set_result(result.text)

    def begin(self) -> None:
        self.stt.begin_utterance(b"")

    def push(self, frame: bytes) -> None:
        self.stt.push(frame)

    def end(self) -> None:
        self.stt.end_utterance()


async def measure(sessions: list, pcm: bytes, pace: str, whole: bool) -> dict[str, float]:
    stalls: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append((time.perf_counter() - before - 0.005) * 1000)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    stalls.clear()
    frames = [pcm] if whole else [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), 640)]
    for session in sessions:
        session.begin()
    if pace == "burst":
        for session in sessions:
            for frame in frames:
                session.push(frame)
    else:
        start = time.perf_counter()
        for n, frame in enumerate(frames):
            for session in sessions:
                session.push(frame)
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.perf_counter()))
    pushed = time.perf_counter()
    for session in sessions:
        session.end()
    texts = await asyncio.gather(*(s.final for s in sessions))
    final_ms = (time.perf_counter() - pushed) * 1000
    stop.set()
    await tick
    stalls.sort()
    return {
        "max": stalls[-1],
        "p99": stalls[int(len(stalls) * 0.99)],
        "p50": statistics.median(stalls),
        "final": final_ms,
        "text": texts[0],
    }


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    bridge = ThreadBridge.for_loop(loop)
    pcm = await speech(args.voice)
    print(
        f"{args.sessions} sessions x {len(pcm) / 32000:.1f} s of {args.voice} speech, "
        f"pace {args.pace}, ticker 5 ms"
    )
    print(f"{'mode':<18}{'max stall':>12}{'p99':>10}{'p50':>10}{'to final':>11}")
    modes = [m.strip() for m in args.modes.split(",")]
    for mode in modes:
        if mode == "processes":
            PocketsphinxSTT.preload(processes=args.processes)
            sessions = []
            for i in range(args.sessions):
                stt = PocketsphinxSTT(processes=args.processes)
                await stt.start(ProviderContext(f"bench-{i}", SessionWorkers(bridge)))
                sessions.append(ProcessSession(stt, loop))
        else:
            whole = mode == "threads-whole"
            sessions = [ThreadedSession(bridge, whole) for _ in range(args.sessions)]
        figures = await measure(sessions, pcm, args.pace, mode == "threads-whole")
        print(
            f"{mode:<18}{figures['max']:>9.1f} ms{figures['p99']:>7.1f} ms"
            f"{figures['p50']:>7.1f} ms{figures['final']:>8.0f} ms   {figures['text']!r}"
        )


if __name__ == "__main__":  # the worker processes are spawned: they import this module again
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--pace", choices=("burst", "realtime"), default="burst")
    parser.add_argument("--voice", choices=("piper", "espeak"), default="piper")
    parser.add_argument("--processes", type=int, default=None, help="default: CPU count")
    parser.add_argument("--modes", default="threads-whole,threads-stream,processes")
    asyncio.run(main(parser.parse_args()))
