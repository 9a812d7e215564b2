"""Latency statistics over arrays of samples (numpy): shared by selectors and the rollup."""

from __future__ import annotations

import numpy as np


def stage_stats(samples: np.ndarray) -> dict[str, float] | None:
    """count, avg, min, max and linearly interpolated p50/p95/p99 of the finite samples.

    Interpolated percentiles are defined for any sample count (one sample is its own p99),
    unlike index picks on sorted samples, which jump between samples.
    """
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    p50, p95, p99 = np.percentile(samples, [50, 95, 99], method="linear")
    return {
        "count": int(samples.size),
        "avg_ms": round(float(samples.mean()), 3),
        "min_ms": round(float(samples.min()), 3),
        "max_ms": round(float(samples.max()), 3),
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
    }


def latency_summary(rows: list[tuple], stages: list[str]) -> dict[str, dict[str, float]]:
    """Per stage statistics of rows of latencies (one column per stage, None when missing)."""
    values = np.array(rows, dtype=float).reshape(-1, len(stages))
    summary = {}
    for position, stage in enumerate(stages):
        stats = stage_stats(values[:, position])
        if stats is not None:
            summary[stage] = stats
    return summary
