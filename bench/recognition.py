"""The offline recognizer alone, on the spoken scenarios' turns: words, digits and CPU per setting.

    .venv/bin/python bench/recognition.py                       # the default settings, every voice
    .venv/bin/python bench/recognition.py --compare            # beam, prompt and padding compared
    .venv/bin/python bench/recognition.py --model-path DIR      # another CTranslate2 Whisper model

Each caller turn of `bench/spoken/scenarios.py`, rendered in each voice (`bench.spoken.render`,
cached under var/spoken/), is transcribed whole by `media.providers.whisper` in this process,
one at a time, with no server and no VAD: what the recognizer itself hears and what a decode
costs. Word error rate uses the spoken bench's normalisation (`bench.spoken.judge`): digits
and number words compare as digit words. "digits" counts the turns whose digit string came out
exactly. Figures through the real sockets are `bench/spoken_conversations.py`'s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spoken.judge import edit_distance, heard_digits, normalize
from bench.spoken.render import DEFAULT_OUT, read_pcm, render, voices_get
from bench.spoken.scenarios import scenarios_get
from media.providers.whisper import DEFAULT_PROMPT, WhisperSTT

# name -> WhisperSTT options that differ from the defaults
SETTINGS = {
    "default (beam 3, prompt)": {},
    "greedy (beam 1)": {"beam_size": 1},
    "no prompt": {"prompt": ""},
    "tail pad 500 ms": {"tail_pad_ms": 500},
    "30 s window (faster-whisper's way)": {"tail_pad_ms": 30000},
}


def clips(voice_keys: list[str] | None, out_dir: Path) -> list[tuple[str, str, bytes]]:
    """(voice, text said, PCM) of every spoken turn."""
    manifests = render(voices_get(voice_keys), scenarios_get(None), out_dir)
    out = []
    for (voice, scenario), manifest in sorted(manifests.items()):
        for turn in manifest["turns"]:
            if turn.get("file"):
                path = Path(out_dir) / voice / scenario / turn["file"]
                out.append((voice, turn["text"], read_pcm(path)))
    return out


def measure(name: str, options: dict, samples: list[tuple[str, str, bytes]], verbose: bool):
    stt = WhisperSTT(**options)
    model = stt._load()
    prompt = model.prompt_tokens(stt.prompt)
    by_voice: dict[str, list[int]] = {}
    digits_right = digits_said = 0
    cost_ms = []
    for voice, said, pcm in samples:
        started = time.perf_counter()
        heard = model.transcribe(pcm, prompt=prompt, **stt._decode)
        cost_ms.append((time.perf_counter() - started) * 1000)
        ref, hyp = normalize(said), normalize(heard)
        errors = edit_distance(ref, hyp)
        counts = by_voice.setdefault(voice, [0, 0])
        counts[0] += errors
        counts[1] += len(ref)
        if heard_digits(ref):
            digits_said += 1
            digits_right += heard_digits(ref) == heard_digits(hyp)
        if verbose and errors:
            print(f"    {voice:10} said  {said!r}\n    {'':10} heard {heard!r}")
    errors = sum(e for e, _ in by_voice.values())
    words = sum(n for _, n in by_voice.values())
    per_voice = "  ".join(f"{v} {100 * e / n:.1f}%" for v, (e, n) in sorted(by_voice.items()))
    cost_ms.sort()
    print(
        f"{name:36} WER {100 * errors / words:5.1f}%  digits {digits_right}/{digits_said}  "
        f"decode p50 {statistics.median(cost_ms):.0f} ms, max {cost_ms[-1]:.0f} ms\n"
        f"{'':36} {per_voice}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="*", help="voice keys (default: all)")
    parser.add_argument("--compare", action="store_true", help="every setting of SETTINGS")
    parser.add_argument("--model-path", default="", help="a CTranslate2 Whisper model directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    samples = clips(args.voices, args.out)
    print(
        f"{len(samples)} spoken turns; 1 decode at a time; load {os.getloadavg()[0]:.2f}; "
        f"prompt {DEFAULT_PROMPT!r}"
    )
    settings = SETTINGS if args.compare else {"default (beam 3, prompt)": {}}
    for name, options in settings.items():
        measure(name, {"model_path": args.model_path, **options}, samples, args.verbose)
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
