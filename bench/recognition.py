"""The offline recognizer alone, on the spoken scenarios' turns: words, digits and CPU per setting.

    .venv/bin/python bench/recognition.py                       # the default settings, every voice
    .venv/bin/python bench/recognition.py --compare            # beam, prompt and padding compared
    .venv/bin/python bench/recognition.py --prompt "..."       # another prompt beside the default
    .venv/bin/python bench/recognition.py --model-path DIR      # another CTranslate2 Whisper model

Two sets. "scenarios": each caller turn of `bench/spoken/scenarios.py`, rendered in each voice
of `bench.spoken.render` (cached under var/spoken/). "held out": other banking sentences
(HELD_OUT) in voices the scenarios do not use (HELD_OUT_VOICES), rendered the same way with a
240 ms pause at each "|": settings are chosen on the first set and checked on the second, so a
setting that only fits the scenarios shows. Each turn is transcribed whole by
`media.providers.whisper` in this process, one at a time, with no server and no VAD: what the
recognizer itself hears and what a decode costs. Word error rate uses the spoken bench's
normalisation (`bench.spoken.judge`): digits and number words compare as digit words. "digits"
counts the turns whose digit string came out exactly, "names" the full names heard as said.
Figures through the real sockets are `bench/spoken_conversations.py`'s.
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
from bench.spoken.render import DEFAULT_OUT, Voice, read_pcm, render, render_turn, voices_get
from bench.spoken.scenarios import SCENARIOS, scenarios_get
from media.providers.name_hints import NameHints
from media.providers.whisper import DEFAULT_PROMPT, WhisperSTT

# The bank's customers (the scenarios' demo customers): the server's name hints.
CUSTOMERS = sorted({s.customer.full_name for s in SCENARIOS if s.customer})

# name -> WhisperSTT options that differ from the defaults
# "phrases": the bank's customers as name hints (None: none), as the server passes them.
SETTINGS = {
    "default (beam 3, prompt, name hints)": {},
    "no name hints": {"phrases": None},
    "greedy (beam 1)": {"beam_size": 1},
    "no prompt": {"prompt": ""},
    "tail pad 500 ms": {"tail_pad_ms": 500},
    "30 s window (faster-whisper's way)": {"tail_pad_ms": 30000},
}


HELD_OUT = [
    "Hi, this is Thomas Anderson | and my last four are six oh one nine.",
    "The card ending in nine nine oh three | was stolen this morning.",
    "My social ends in three one four oh.",
    "Yes, it's | oh five five eight.",
    "I want to check the balance, | my name is Linda Martinez.",
    "Last four digits | seven zero two one.",
    "Can you block my card, | the one that ends in one oh oh seven?",
    "It's Kevin Lee, | last four one two three four.",
    "My number ends in eight eight six two, | sorry, eight eight two six.",
    "Four four nine one.",
    "Please send me the code again.",
    "What time do you close on Sunday?",
    "Hello, I'm Patricia Nguyen, | the last four of my social are nine three oh eight.",
    "The code is | five one nine oh two two.",
    "This is Karen Brown, | my last four are three three one eight.",
    "Mark Wilson here, | I lost my card.",
]
# Not customers of the bank; Karen Brown and Mark Wilson share a customer's last name (a name
# hint must not turn them into David Brown or Sarah Wilson).
HELD_OUT_NAMES = (
    "Thomas Anderson", "Linda Martinez", "Kevin Lee", "Patricia Nguyen", "Karen Brown",
    "Mark Wilson",
)  # fmt: skip
HELD_OUT_VOICES = [
    Voice("piper-joe", "piper"),
    Voice("espeak-m1", "espeak", "en-us+m1", 150, 45),
    Voice("espeak-f4", "espeak", "en-us+f4", 160, 62),
    Voice("espeak-m7", "espeak", "en-us+m7", 140, 50),
    Voice("espeak-gb-f3", "espeak", "en-gb+f3", 165, 55),
]


def held_out_clips() -> list[tuple[str, str, bytes]]:
    """(voice, text said, PCM) of the held-out sentences in the held-out voices."""
    out = []
    for voice in HELD_OUT_VOICES:
        for sentence in HELD_OUT:
            segments = [piece.strip() for piece in sentence.split("|")]
            pcm, _ = render_turn(voice, segments, [240] * (len(segments) - 1))
            out.append((voice.key, " ".join(segments), pcm))
    return out


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


def measure(
    name: str,
    options: dict,
    samples: list[tuple[str, str, bytes]],
    names: list[str],
    verbose: bool,
):
    options = {"phrases": CUSTOMERS, **options}
    phrases = options.pop("phrases")
    hints = NameHints(phrases) if phrases else None
    stt = WhisperSTT(**options)
    model = stt._load()
    by_voice: dict[str, list[int]] = {}
    digits_right = digits_said = 0
    names_right = names_said = 0
    cost_ms = []
    for voice, said, pcm in samples:
        started = time.perf_counter()
        heard = model.transcribe(pcm, prompt=stt.prompt, hints=hints, **stt._decode)
        cost_ms.append((time.perf_counter() - started) * 1000)
        ref, hyp = normalize(said), normalize(heard)
        errors = edit_distance(ref, hyp)
        counts = by_voice.setdefault(voice, [0, 0])
        counts[0] += errors
        counts[1] += len(ref)
        if heard_digits(ref):
            digits_said += 1
            digits_right += heard_digits(ref) == heard_digits(hyp)
        for full_name in names:
            if full_name in said:
                names_said += 1
                names_right += full_name.lower() in heard.lower()
        if verbose and errors:
            print(f"    {voice:10} said  {said!r}\n    {'':10} heard {heard!r}")
    errors = sum(e for e, _ in by_voice.values())
    words = sum(n for _, n in by_voice.values())
    per_voice = "  ".join(f"{v} {100 * e / n:.1f}%" for v, (e, n) in sorted(by_voice.items()))
    cost_ms.sort()
    print(
        f"{name:36} WER {100 * errors / words:5.1f}%  digits {digits_right}/{digits_said}  "
        f"names {names_right}/{names_said}  "
        f"decode p50 {statistics.median(cost_ms):.0f} ms, max {cost_ms[-1]:.0f} ms\n"
        f"{'':36} {per_voice}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="*", help="voice keys (default: all)")
    parser.add_argument("--compare", action="store_true", help="every setting of SETTINGS")
    parser.add_argument("--prompt", help="measure this prompt beside the default")
    parser.add_argument("--model-path", default="", help="a CTranslate2 Whisper model directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    sets = {
        "scenarios": (clips(args.voices, args.out), CUSTOMERS),
        "held out": (held_out_clips(), list(HELD_OUT_NAMES)),
    }
    print(f"1 decode at a time; load {os.getloadavg()[0]:.2f}; default prompt {DEFAULT_PROMPT!r}")
    settings = SETTINGS if args.compare else dict(list(SETTINGS.items())[:2])
    if args.prompt is not None:
        settings = {**settings, f"prompt {args.prompt[:24]!r}": {"prompt": args.prompt}}
    for set_name, (samples, names) in sets.items():
        print(f"{set_name}: {len(samples)} spoken turns")
        for name, options in settings.items():
            measure(name, {"model_path": args.model_path, **options}, samples, names, args.verbose)
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
