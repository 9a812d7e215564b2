"""Smart Turn v3.2 judged on the spoken scenarios: would it tell a pause from the end of a turn?

    .venv/bin/pip install --no-deps pipecat-ai==1.14.0      # the model (BSD-2), not a requirement
    .venv/bin/python bench/smart_turn.py

Smart Turn (Daily, in the `pipecat-ai` wheel) reads the last 8 s of a caller's audio and says
how likely the turn is complete. The engine ends a turn after 400 ms of silence
(`EngineConfig.end_of_turn_silence_ms`); Smart Turn would be a reason to wait longer when it
says "not complete", so it is worth having only if it says "complete" at the ends of turns and
"not complete" at pauses inside them, in every voice, for little CPU.

For every caller turn of `bench/spoken/scenarios.py` in every voice of `bench.spoken.render`
(cached under var/spoken/): the whole turn (its speech and the silence the engine has heard
when it decides, 400 ms) is a complete turn; the audio up to each mid-sentence pause marked in
the scenario, plus 400 ms of silence, is an incomplete one. Printed per voice: ends judged
complete, pauses judged not complete, and the inference time (one thread, as Pipecat runs it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spoken.render import DEFAULT_OUT, SAMPLE_RATE_HZ, read_pcm, render, voices_get
from bench.spoken.scenarios import scenarios_get

DECISION_SILENCE_MS = 400
WINDOW_SAMPLES = 8 * SAMPLE_RATE_HZ


def _load():
    """Smart Turn's features and model from the installed wheel, without importing Pipecat
    (its package imports its own dependencies, which are not installed)."""
    import importlib.util

    import onnxruntime as ort

    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("Smart Turn is in pipecat-ai: .venv/bin/pip install --no-deps pipecat-ai==1.14.0")
    folder = Path(spec.submodule_search_locations[0]) / "audio" / "turn" / "smart_turn"
    features_spec = importlib.util.spec_from_file_location(
        "smart_turn_features", folder / "_whisper_features.py"
    )
    features_module = importlib.util.module_from_spec(features_spec)
    features_spec.loader.exec_module(features_module)
    compute_whisper_log_mel_features = features_module.compute_whisper_log_mel_features
    model = folder / "data" / "smart-turn-v3.2-cpu.onnx"
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(model), sess_options=options)

    def complete_probability(samples: np.ndarray) -> float:
        window = samples[-WINDOW_SAMPLES:]
        window = np.pad(window, (WINDOW_SAMPLES - window.size, 0))
        features = compute_whisper_log_mel_features(window, do_normalize=True)[None]
        return float(session.run(None, {"input_features": features})[0][0].item())

    return complete_probability


def cases(voice_keys: list[str] | None, out_dir: Path):
    """(voice, complete?, float samples ending with the silence heard at the decision)."""
    silence = np.zeros(DECISION_SILENCE_MS * SAMPLE_RATE_HZ // 1000, np.float32)
    manifests = render(voices_get(voice_keys), scenarios_get(None), out_dir)
    for (voice, scenario), manifest in sorted(manifests.items()):
        for turn in manifest["turns"]:
            if not turn.get("file"):
                continue
            pcm = read_pcm(Path(out_dir) / voice / scenario / turn["file"])
            samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
            speech = samples[: turn["speech_end_sample"]]
            yield voice, True, np.concatenate([speech, silence])
            for pause in turn["pauses"]:
                yield voice, False, np.concatenate([samples[: pause["start"]], silence])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="*", help="voice keys (default: all)")
    parser.add_argument("--threshold", type=float, default=0.5, help="complete above this")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    complete_probability = _load()
    tally: dict[str, list[int]] = {}  # voice -> ends right, ends, pauses right, pauses
    cost_ms = []
    for voice, complete, samples in cases(args.voices, args.out):
        started = time.perf_counter()
        said_complete = complete_probability(samples) > args.threshold
        cost_ms.append((time.perf_counter() - started) * 1000)
        counts = tally.setdefault(voice, [0, 0, 0, 0])
        if complete:
            counts[0] += said_complete
            counts[1] += 1
        else:
            counts[2] += not said_complete
            counts[3] += 1
    print(f"Smart Turn v3.2, threshold {args.threshold}, load {os.getloadavg()[0]:.2f}")
    print(f"{'voice':12} {'ends judged complete':>22} {'pauses judged not complete':>28}")
    for voice, (ends_right, ends, pauses_right, pauses) in sorted(tally.items()):
        print(
            f"{voice:12} {ends_right:>12}/{ends:<3} {100 * ends_right / ends:4.0f} %"
            f" {pauses_right:>18}/{pauses:<3} {100 * pauses_right / max(pauses, 1):4.0f} %"
        )
    cost_ms.sort()
    print(
        f"inference: p50 {statistics.median(cost_ms):.0f} ms, "
        f"p95 {cost_ms[int(len(cost_ms) * 0.95)]:.0f} ms (one thread)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
