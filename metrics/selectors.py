"""Reads: liveness and readiness reports."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from metrics.checks import CheckResult, registered_checks, run_checks


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    status: str  # "ready" | "degraded" | "unhealthy"
    timestamp: str
    response_time_ms: float
    checks: list[CheckResult]


def health_report() -> dict:
    """Liveness, shaped like the original's `/health` answer."""
    return {
        "status": "healthy",
        "version": settings.VERSION,
        "timestamp": timezone.now().isoformat(),
        "message": "Real-Time Voice Agent API is running",
        "details": {"api_version": "v1", "service": "voice-agent"},
    }


def readiness_report(*, timeout_s: float | None = None) -> ReadinessReport:
    """Run every registered check (in parallel, each bounded) and fold them into one status."""
    timeout_s = timeout_s or max(settings.REDIS_TIMEOUT_S, 1.0) + 1.0
    started = time.perf_counter()
    results = run_checks(registered_checks(), timeout_s)
    if any(r.status != "healthy" and r.required for r in results):
        status = "unhealthy"
    elif any(r.status != "healthy" for r in results):
        status = "degraded"
    else:
        status = "ready"
    return ReadinessReport(
        status=status,
        timestamp=timezone.now().isoformat(),
        response_time_ms=round((time.perf_counter() - started) * 1000, 2),
        checks=results,
    )
