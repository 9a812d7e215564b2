"""Render the scenarios' caller turns to 16 kHz mono PCM16 WAV files, in several voices.

    .venv/bin/python -m bench.spoken.render                      # every voice and scenario
    .venv/bin/python -m bench.spoken.render --voices piper-joe espeak-f2 --scenarios balance

Each turn's pieces (split at the "|" pause marks) are synthesized separately, trimmed to their
speech, joined with the marked pauses as digital silence, preceded by 100 ms of silence and
followed by 200 ms, and scaled to a -3 dBFS peak (a phone line's level, not its band).
Output: `var/spoken/<voice>/<scenario>/<turn>.wav` and a `manifest.json` per scenario with the
text spoken, the pauses (after which word, how long, where: the silence heard, at or below
-40 dBFS, which is the marked pause) and the true speech start and end
(sample offsets: the first and last 10 ms window above -40 dBFS). A file is rendered again
only when its text, pauses or voice changed.

Piper runs with noise_scale = noise_w_scale = 0, so the same text is the same audio every time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.spoken.scenarios import (
    PAUSE_CYCLE_MS,
    CallerTurn,
    Scenario,
    meant_digits,
    scenarios_get,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "var" / "spoken"
SAMPLE_RATE_HZ = 16000
LEAD_IN_MS = 100
TAIL_MS = 200
PEAK_DBFS = -3.0
SPEECH_DBFS = -40.0  # a 10 ms window above this is speech (after normalization)
TRIM_BELOW_PEAK_DB = 40.0  # a piece's edges quieter than its peak by this much are cut
RENDER_VERSION = 2  # bump when the rendering itself changes


@dataclass(frozen=True, slots=True)
class Voice:
    """A caller's voice: piper's joe, or an espeak-ng voice at a speed (wpm) and pitch."""

    key: str
    engine: str  # "piper" | "espeak"
    espeak_voice: str = ""
    wpm: int = 0
    pitch: int = 50


VOICES: dict[str, Voice] = {
    v.key: v
    for v in (
        Voice("piper-joe", "piper"),
        Voice("espeak-f2", "espeak", "en-us+f2", 145),
        Voice("espeak-m3", "espeak", "en-us+m3", 170),
        Voice("espeak-gb", "espeak", "en-gb", 155, pitch=38),
    )
}


def voices_get(keys: list[str] | None = None) -> list[Voice]:
    if not keys:
        return list(VOICES.values())
    unknown = [key for key in keys if key not in VOICES]
    if unknown:
        raise KeyError(f"unknown voices {unknown}; known: {', '.join(VOICES)}")
    return [VOICES[key] for key in keys]


# --- synthesis ----------------------------------------------------------------------------------


def _resample(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    if rate_hz == SAMPLE_RATE_HZ:
        return samples
    import soxr

    return soxr.resample(samples, rate_hz, SAMPLE_RATE_HZ, quality="HQ").astype(np.int16)


def _piper(text: str) -> np.ndarray:
    from piper import SynthesisConfig

    from media.providers.local import _PiperVoice

    voice = _PiperVoice.get()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=config))
    return _resample(np.frombuffer(pcm, dtype=np.int16), voice.config.sample_rate)


def _espeak(voice: Voice, text: str) -> np.ndarray:
    args = ["espeak-ng", "-v", voice.espeak_voice, "-s", str(voice.wpm), "-p", str(voice.pitch)]
    wav = subprocess.run([*args, "--stdout", text], capture_output=True, check=True).stdout
    if wav[:4] != b"RIFF" or wav[36:40] != b"data":
        raise RuntimeError(f"espeak-ng gave no WAV for {text!r}")
    rate = int.from_bytes(wav[24:28], "little")
    data = wav[44 : 44 + (len(wav) - 44) // 2 * 2]
    return _resample(np.frombuffer(data, dtype=np.int16), rate)


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """`text` in `voice`, 16 kHz int16, trimmed to its speech."""
    samples = _piper(text) if voice.engine == "piper" else _espeak(voice, text)
    return _trim(samples)


def _window_dbfs(samples: np.ndarray, window: int) -> np.ndarray:
    n = len(samples) // window
    if n == 0:
        return np.full(1, -120.0)
    blocks = samples[: n * window].astype(np.float64).reshape(n, window) / 32768.0
    rms = np.sqrt(np.mean(blocks**2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9))


def _trim(samples: np.ndarray) -> np.ndarray:
    window = SAMPLE_RATE_HZ // 100
    levels = _window_dbfs(samples, window)
    loud = np.flatnonzero(levels > levels.max() - TRIM_BELOW_PEAK_DB)
    if loud.size == 0:
        return samples
    start = max(0, (loud[0] - 1) * window)  # one window of margin each side
    end = min(len(samples), (loud[-1] + 2) * window)
    return samples[start:end]


def speech_span(samples: np.ndarray) -> tuple[int, int]:
    """Sample offsets of the first and the end of the last 10 ms window above -40 dBFS."""
    window = SAMPLE_RATE_HZ // 100
    loud = np.flatnonzero(_window_dbfs(samples, window) > SPEECH_DBFS)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * window), int((loud[-1] + 1) * window)


def _assemble(speech: list[np.ndarray], inserted_ms: list[int]) -> tuple[np.ndarray, list]:
    """Lead-in, the pieces with silence between them, tail; scaled to the peak level.
    Returns the PCM and the (start, end) samples of each inserted silence."""
    lead = np.zeros(SAMPLE_RATE_HZ * LEAD_IN_MS // 1000, np.int16)
    pieces, marks, offset = [lead], [], len(lead)
    for i, piece in enumerate(speech):
        pieces.append(piece)
        offset += len(piece)
        if i < len(inserted_ms):
            silence = np.zeros(SAMPLE_RATE_HZ * inserted_ms[i] // 1000, np.int16)
            marks.append((offset, offset + len(silence)))
            pieces.append(silence)
            offset += len(silence)
    pieces.append(np.zeros(SAMPLE_RATE_HZ * TAIL_MS // 1000, np.int16))
    samples = np.concatenate(pieces).astype(np.float64)
    peak = np.abs(samples).max() or 1.0
    scaled = samples * (32767 * 10 ** (PEAK_DBFS / 20) / peak)
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16), marks


def _heard_silence(pcm: np.ndarray, mark: tuple[int, int]) -> tuple[int, int]:
    """The silence a listener hears around an inserted one: it grows into the quiet edges of
    the neighbouring pieces (10 ms windows at or below -40 dBFS)."""
    window = SAMPLE_RATE_HZ // 100

    def quiet(at: int) -> bool:
        block = pcm[max(0, at) : at + window].astype(np.float64) / 32768.0
        return block.size == 0 or 20 * np.log10(max(np.sqrt(np.mean(block**2)), 1e-9)) <= -40

    start, end = mark
    while start - window >= 0 and quiet(start - window):
        start -= window
    while end < len(pcm) and quiet(end):
        end += window
    return start, min(end, len(pcm))


def render_turn(voice: Voice, segments: list[str], pauses_ms: list[int]) -> tuple[bytes, dict]:
    """One caller turn as PCM16 bytes, and what the manifest records about it.

    A marked pause is what the listener hears: the inserted silence is shortened by the quiet
    edges of the pieces around it, so the silence (at or below -40 dBFS) is the pause asked for.
    """
    speech = [synthesize(voice, segment) for segment in segments]
    inserted = list(pauses_ms)
    for _ in range(3):
        pcm, marks = _assemble(speech, inserted)
        heard = [_heard_silence(pcm, mark) for mark in marks]
        gaps_ms = [(end - start) * 1000 // SAMPLE_RATE_HZ for start, end in heard]
        if all(abs(gap - want) <= 10 for gap, want in zip(gaps_ms, pauses_ms, strict=True)):
            break
        inserted = [
            max(0, i + want - gap)
            for i, want, gap in zip(inserted, pauses_ms, gaps_ms, strict=True)
        ]
    words = np.cumsum([len(segment.split()) for segment in segments])
    pauses = [
        {"after_word": int(words[i]), "ms": gaps_ms[i], "start": start, "end": end}
        for i, (start, end) in enumerate(heard)
    ]
    start, end = speech_span(pcm)
    info = {
        "pauses": pauses,
        "speech_start_sample": start,
        "speech_end_sample": end,
        "samples": len(pcm),
    }
    return pcm.tobytes(), info


# --- files and manifest -------------------------------------------------------------------------


def _cache_key(voice: Voice, segments: list[str], pauses_ms: list[int]) -> str:
    blob = json.dumps([RENDER_VERSION, asdict(voice), segments, pauses_ms, LEAD_IN_MS, TAIL_MS])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def write_wav(path: Path, pcm: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE_HZ)
        wav.writeframes(pcm)


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (SAMPLE_RATE_HZ, 1, 2):
            raise ValueError(f"{path}: not 16 kHz mono PCM16")
        return wav.readframes(wav.getnframes())


def manifest_path(out_dir: Path, voice: str, scenario: str) -> Path:
    return Path(out_dir) / voice / scenario / "manifest.json"


def _render_entry(
    voice: Voice, turn: CallerTurn, pauses_ms: list[int], folder: Path, name: str, old: dict
) -> dict:
    """The manifest entry of one spoken turn, rendered unless `old` has it for the same key."""
    key = _cache_key(voice, turn.segments, pauses_ms)
    wav = folder / name
    previous = old.get(name)
    if previous and previous.get("key") == key and wav.exists():
        return {k: v for k, v in previous.items() if k not in ("index", "text", "dtmf")}
    pcm, info = render_turn(voice, turn.segments, pauses_ms)
    write_wav(wav, pcm)
    return {**info, "file": name, "key": key}


def render_scenario(voice: Voice, scenario: Scenario, out_dir: Path = DEFAULT_OUT) -> dict:
    """Render (or reuse) every turn of `scenario` in `voice`, and the caller's replies to a
    number read back; returns and writes the manifest."""
    folder = Path(out_dir) / voice.key / scenario.key
    path = folder / "manifest.json"
    old_manifest = json.loads(path.read_text()) if path.exists() else {}
    old = {
        t.get("file"): t
        for t in [*old_manifest.get("turns", []), *old_manifest.get("replies", {}).values()]
    }
    turns = []
    for index, (turn, pauses_ms) in enumerate(zip(scenario.turns, scenario.pauses(), strict=True)):
        entry: dict = {"index": index, "text": turn.spoken, "dtmf": turn.dtmf}
        entry["meant_digits"] = meant_digits(turn)
        if turn.barge_in_after_ms is not None:
            entry["barge_in_after_ms"] = turn.barge_in_after_ms
        if turn.is_speech:
            entry.update(_render_entry(voice, turn, pauses_ms, folder, f"{index + 1:02d}.wav", old))
        turns.append(entry)
    replies = {}
    for key, turn in scenario.replies().items():
        marks = len(turn.segments) - 1
        pauses_ms = [PAUSE_CYCLE_MS[i % len(PAUSE_CYCLE_MS)] for i in range(marks)]
        name = "reply-" + key.replace(":", "-") + ".wav"
        replies[key] = {"text": turn.spoken, "dtmf": ""} | _render_entry(
            voice, turn, pauses_ms, folder, name, old
        )
    manifest = {
        "voice": asdict(voice),
        "scenario": scenario.key,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "lead_in_ms": LEAD_IN_MS,
        "peak_dbfs": PEAK_DBFS,
        "turns": turns,
        "replies": replies,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def render(
    voices: list[Voice], scenarios: list[Scenario], out_dir: Path = DEFAULT_OUT
) -> dict[tuple[str, str], dict]:
    """Manifests by (voice key, scenario key)."""
    return {
        (voice.key, scenario.key): render_scenario(voice, scenario, out_dir)
        for voice in voices
        for scenario in scenarios
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", nargs="*", help=f"default: all of {', '.join(VOICES)}")
    parser.add_argument("--scenarios", nargs="*", help="default: all")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        voices, scenarios = voices_get(args.voices), scenarios_get(args.scenarios)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    for (voice, scenario), manifest in render(voices, scenarios, args.out).items():
        spoken = [t for t in manifest["turns"] if t.get("file")]
        seconds = sum(t["samples"] for t in spoken) / SAMPLE_RATE_HZ
        print(f"{voice:10} {scenario:14} {len(spoken)} turns, {seconds:5.1f} s")
    print(f"→ {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
