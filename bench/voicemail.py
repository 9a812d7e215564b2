"""Voicemail and call-screening detection on generated callee audio: accuracy and decision time.

    .venv/bin/python bench/voicemail.py            # every sample in every voice
    .venv/bin/python bench/voicemail.py -v         # and each sample's verdict

What an outbound call hears when it is answered, rendered in four voices (Piper joe, espeak-ng
f2, m3, gb): people answering ("Hello?", "Hi, this is Mark."; a receptionist's long greeting),
voicemail greetings ending in a beep (400-1,400 Hz, several lengths) or in silence, and
call-screening prompts. Each sample starts after 0.3-0.9 s of line silence, has line noise at
about -55 dBFS, and ends with 3 s of silence. The detector (`media/voicemail.py`) reads it with
Silero VAD and Whisper tiny.en, the product's offline recognizer; the decision time is counted
from the callee's true onset of speech (from the rendering) to the verdict, the recognizer's
own time included (measured, the decodes run one at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")

from bench.spoken.render import VOICES, synthesize
from media.providers.base import ProviderContext
from media.providers.vad import SileroVAD
from media.providers.whisper import WhisperSTT
from media.voicemail import (
    FRAME_SAMPLES,
    SAMPLE_RATE_HZ,
    AnsweringMachineDetector,
    Verdict,
)

HUMAN = [
    "Hello?",
    "Hi, this is Mark.",
    "Yeah, hello?",
    "Hello, who's this?",
    "Good afternoon, Sarah speaking.",
    "Good morning, thank you for calling Contoso Dental, this is Sarah, how can I help you?",
]
# (greeting, beep Hz or 0 for none, beep ms)
MACHINE = [
    ("Hi, you've reached Mark. I can't take your call right now. Please leave a message after "
     "the tone.", 1000, 500),
    ("The person you are calling is not available. At the tone, please record your message.",
     850, 700),
    ("Hello, this is Sarah. Sorry I missed you, leave me a message and I'll call you back.",
     1400, 300),
    ("You have reached the voicemail of five five five, oh one nine nine. Please leave a "
     "message.", 440, 1000),
    ("Hey, it's Dan. I'm away from my phone at the moment, so leave your name and number and "
     "I'll get back to you.", 0, 0),
]  # fmt: skip
SCREENING = [
    "Hi, the person you're calling is using a screening service. Please state your name and "
    "the reason for your call.",
    "Hello, before I try to connect you, can I ask who's calling and what it's about?",
    "Go ahead and say your name and why you're calling, and I'll see if this person is available.",
]
LEADS_MS = (300, 600, 900)
NOISE_DBFS = -55.0


@dataclass
class Sample:
    voice: str
    kind: Verdict
    text: str
    pcm: bytes
    onset_ms: int


def _tone(hz: float, ms: int) -> np.ndarray:
    t = np.arange(SAMPLE_RATE_HZ * ms // 1000) / SAMPLE_RATE_HZ
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.005)
    return (0.3 * 32767 * np.sin(2 * np.pi * hz * t) * ramp).astype(np.int16)


def _silence(ms: int) -> np.ndarray:
    return np.zeros(SAMPLE_RATE_HZ * ms // 1000, dtype=np.int16)


def render_samples(voice_keys: list[str]) -> list[Sample]:
    rng = np.random.default_rng(7)
    noise_rms = 32767 * 10 ** (NOISE_DBFS / 20)
    samples = []
    cases = [
        *((Verdict.HUMAN, text, 0, 0) for text in HUMAN),
        *((Verdict.MACHINE, text, hz, ms) for text, hz, ms in MACHINE),
        *((Verdict.SCREENING, text, 0, 0) for text in SCREENING),
    ]
    for v, key in enumerate(voice_keys):
        for i, (kind, text, beep_hz, beep_ms) in enumerate(cases):
            lead = LEADS_MS[(i + v) % len(LEADS_MS)]
            parts = [_silence(lead), synthesize(VOICES[key], text)]
            if beep_hz:
                parts += [_silence(400), _tone(beep_hz, beep_ms)]
            parts.append(_silence(3000))
            audio = np.concatenate(parts).astype(np.float32)
            audio += rng.normal(0, noise_rms, len(audio))
            pcm = np.clip(audio, -32768, 32767).astype(np.int16).tobytes()
            samples.append(Sample(key, kind, text, pcm, lead))
    return samples


def classify(sample: Sample, stt: WhisperSTT, model, prompt, vad: SileroVAD):
    """(decision, decision time after onset in ms, decodes) for one sample."""
    vad.reset()
    detector = AnsweringMachineDetector(vad.speech_probability)
    frame_bytes = FRAME_SAMPLES * 2
    lag_ms = 0.0  # recognizer time not yet covered by audio time: the decision waits for it
    decodes = 0
    for start in range(0, len(sample.pcm) - frame_bytes + 1, frame_bytes):
        request = detector.push(sample.pcm[start : start + frame_bytes])
        if request is not None:
            started = time.perf_counter()
            text = model.transcribe(request.pcm, prompt=prompt, **stt._decode)
            lag_ms = (time.perf_counter() - started) * 1000
            decodes += 1
            decision = detector.heard(request, text)
            if decision is not None:
                return decision, request.at_ms + lag_ms - sample.onset_ms, decodes
        elif detector.decision is not None:
            return detector.decision, detector.decision.at_ms - sample.onset_ms, decodes
    return None, None, decodes


async def main_async(args) -> int:
    samples = render_samples(args.voices or list(VOICES))
    stt = WhisperSTT()
    model = stt._load()
    prompt = stt.prompt
    vad = SileroVAD(batch=False)
    await vad.start(ProviderContext("voicemail-bench", None))  # type: ignore[arg-type]
    right: dict[Verdict, list[bool]] = {}
    times: list[float] = []
    print(f"{len(samples)} samples; load {os.getloadavg()[0]:.2f}")
    for sample in samples:
        decision, after_ms, decodes = classify(sample, stt, model, prompt, vad)
        verdict = decision.verdict if decision else None
        # Nobody speaking would leave the agent to talk first, as to a person.
        ok = verdict == sample.kind or (sample.kind is Verdict.HUMAN and verdict is Verdict.SILENCE)
        right.setdefault(sample.kind, []).append(ok)
        if after_ms is not None:
            times.append(after_ms)
        if args.verbose or not ok:
            mark = "✓" if ok else "✗"
            reason = f"{decision.reason}: {decision.text!r}" if decision else "undecided"
            print(
                f"{mark} {sample.voice:10} {sample.kind:9} → {verdict or '-':9} "
                f"{after_ms or 0:6.0f} ms  {decodes} decodes  {sample.text[:48]!r}  ({reason})"
            )
    total = [ok for oks in right.values() for ok in oks]
    times.sort()
    print(
        "accuracy "
        + "  ".join(f"{k}: {sum(v)}/{len(v)}" for k, v in right.items())
        + f"  all: {sum(total)}/{len(total)} ({100 * sum(total) / len(total):.0f} %)"
    )
    print(
        f"decision after onset: p50 {statistics.median(times):.0f} ms, "
        f"p95 {times[int(0.95 * (len(times) - 1))]:.0f} ms, max {times[-1]:.0f} ms; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="*", help=f"default: all of {', '.join(VOICES)}")
    parser.add_argument("-v", "--verbose", action="store_true")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
