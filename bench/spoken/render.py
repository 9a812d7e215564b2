"""Render the scenarios' caller turns to 16 kHz mono PCM16 WAV files, in several voices.

    .venv/bin/python -m bench.spoken.render                      # every voice and scenario
    .venv/bin/python -m bench.spoken.render --voices piper-joe espeak-f2 --scenarios balance

Each turn's pieces (split at the "|" pause marks) are synthesized separately, trimmed to their
speech, joined with the marked pauses as digital silence, preceded by 100 ms of silence and
followed by 200 ms, and scaled to a -3 dBFS peak (a phone line's level, not its band).
Output: `var/spoken/<voice>/<scenario>/<turn>.wav` and a `manifest.json` per scenario with the
text spoken, the pauses (after which word, how long, where) and the true speech start and end
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

from bench.spoken.scenarios import Scenario, scenarios_get

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "var" / "spoken"
SAMPLE_RATE_HZ = 16000
LEAD_IN_MS = 100
TAIL_MS = 200
PEAK_DBFS = -3.0
SPEECH_DBFS = -40.0  # a 10 ms window above this is speech (after normalization)
TRIM_BELOW_PEAK_DB = 40.0  # a piece's edges quieter than its peak by this much are cut
RENDER_VERSION = 1  # bump when the rendering itself changes


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


def render_turn(voice: Voice, segments: list[str], pauses_ms: list[int]) -> tuple[bytes, dict]:
    """One caller turn as PCM16 bytes, and what the manifest records about it."""
    pieces, pauses, words = [np.zeros(SAMPLE_RATE_HZ * LEAD_IN_MS // 1000, np.int16)], [], 0
    offset = len(pieces[0])
    for i, segment in enumerate(segments):
        speech = synthesize(voice, segment)
        pieces.append(speech)
        offset += len(speech)
        words += len(segment.split())
        if i < len(pauses_ms):
            silence = np.zeros(SAMPLE_RATE_HZ * pauses_ms[i] // 1000, np.int16)
            pauses.append(
                {
                    "after_word": words,
                    "ms": pauses_ms[i],
                    "start": offset,
                    "end": offset + len(silence),
                }
            )
            pieces.append(silence)
            offset += len(silence)
    pieces.append(np.zeros(SAMPLE_RATE_HZ * TAIL_MS // 1000, np.int16))
    samples = np.concatenate(pieces).astype(np.float64)
    peak = np.abs(samples).max() or 1.0
    scaled = samples * (32767 * 10 ** (PEAK_DBFS / 20) / peak)
    pcm = np.clip(np.round(scaled), -32768, 32767).astype(np.int16)
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


def render_scenario(voice: Voice, scenario: Scenario, out_dir: Path = DEFAULT_OUT) -> dict:
    """Render (or reuse) every turn of `scenario` in `voice`; returns and writes the manifest."""
    folder = Path(out_dir) / voice.key / scenario.key
    path = folder / "manifest.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old_turns = {t.get("file"): t for t in old.get("turns", [])}
    turns = []
    for index, (turn, pauses_ms) in enumerate(zip(scenario.turns, scenario.pauses(), strict=True)):
        entry: dict = {"index": index, "text": turn.spoken, "dtmf": turn.dtmf}
        if turn.barge_in_after_ms is not None:
            entry["barge_in_after_ms"] = turn.barge_in_after_ms
        if turn.is_speech:
            name = f"{index + 1:02d}.wav"
            key = _cache_key(voice, turn.segments, pauses_ms)
            wav = folder / name
            previous = old_turns.get(name)
            if previous and previous.get("key") == key and wav.exists():
                entry = {**previous, **entry}
            else:
                pcm, info = render_turn(voice, turn.segments, pauses_ms)
                write_wav(wav, pcm)
                entry.update(info, file=name, key=key)
        turns.append(entry)
    manifest = {
        "voice": asdict(voice),
        "scenario": scenario.key,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "lead_in_ms": LEAD_IN_MS,
        "peak_dbfs": PEAK_DBFS,
        "turns": turns,
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
