"""Reads: liveness and readiness, session metrics and summaries, the TTS pool's state."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from metrics import live
from metrics.aggregates import latency_summary
from metrics.checks import CheckResult, registered_checks, run_checks
from metrics.models import (
    PHONE_CALL,
    STAGE_FIELDS,
    ConversationSession,
    SessionErrorRecord,
    SessionStatus,
    Transport,
    Turn,
)
from metrics.registry import speech_stack
from metrics.writer import DatabaseUnavailable, flush_blocking


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """`status`: "ready"; "degraded" (a dependency or an optional check is down: live calls go
    on); "unhealthy" (a required check of the process itself failed). `accepts_calls` is
    False (HTTP 503) when any required check failed, the dependencies' included."""

    status: str  # "ready" | "degraded" | "unhealthy"
    timestamp: str
    response_time_ms: float
    checks: list[CheckResult]
    reason: str | None = None  # why it answers 503: the failed required checks' errors
    down: list[str] = field(default_factory=list)  # unreachable dependencies: database, redis
    accepts_calls: bool = True


def health_report() -> dict:
    """Liveness, shaped like the original's `/health` answer."""
    return {
        "status": "healthy",
        "version": settings.VERSION,
        "timestamp": timezone.now().isoformat(),
        "message": "Real-Time Voice Agent API is running",
        "details": {"api_version": "v1", "service": "voice-agent"},
        **_live_sessions(),
    }


def _live_sessions() -> dict[str, Any]:
    """Sessions open in this process (from memory: liveness never waits on the database)."""
    counts = live.counts()
    return {
        "active_sessions": counts["active"],
        "session_metrics": {
            "connected": counts["active"],
            "disconnected": counts["total_disconnected"],
            "active": counts["active"],
            "total_connected": counts["total_connected"],
            "browser": counts["browser"],
            "acs": counts["acs"],
        },
    }


def readiness_report(*, timeout_s: float | None = None) -> ReadinessReport:
    """Run every registered check (in parallel, each bounded) and fold them into one status."""
    timeout_s = timeout_s or max(settings.REDIS_TIMEOUT_S, 1.0) + 1.0
    started = time.perf_counter()
    results = run_checks(registered_checks(), timeout_s)
    failed = [r for r in results if r.status != "healthy"]
    down = sorted({r.dependency for r in failed if r.dependency})
    if any(r.required and not r.dependency for r in failed):
        status = "unhealthy"
    elif failed:
        status = "degraded"
    else:
        status = "ready"
    required_down = sorted({r.dependency for r in failed if r.dependency and r.required})
    reasons = [f"{name} is down" for name in required_down]
    reasons += [f"{r.component}: {r.error}" for r in failed if r.required]
    return ReadinessReport(
        status=status,
        timestamp=timezone.now().isoformat(),
        response_time_ms=round((time.perf_counter() - started) * 1000, 2),
        checks=results,
        reason="; ".join(reasons) or None,
        down=down,
        accepts_calls=not any(r.required for r in failed),
    )


# --- conversation sessions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionState:
    """What a reconnect resumes: the active agent, the history and the tools' state."""

    active_agent: str
    history: list[dict]
    tool_state: dict
    turn_count: int = 0


def session_state_get(session_id: str) -> SessionState | None:
    """The stored state of a session, or None for a new one (sync: call off the event loop).

    What this process has queued for the session (the last turn and state of a socket that
    just closed) is stored first, so a reconnect resumes from where the call was.
    """
    with contextlib.suppress(DatabaseUnavailable):  # the read below says so too
        flush_blocking()
    row = (
        ConversationSession.objects.filter(session_id=session_id)
        .values("active_agent", "history", "tool_state", "turn_count")
        .first()
    )
    if row is None:
        return None
    return SessionState(
        active_agent=row["active_agent"],
        history=row["history"],
        tool_state=row["tool_state"],
        turn_count=row["turn_count"],
    )


def session_get(session_id: str) -> ConversationSession | None:
    return ConversationSession.objects.filter(session_id=session_id).first()


def session_list(
    *, viewer=None, status: str | None = None, transport: str | None = None, limit: int = 50
) -> tuple[QuerySet[ConversationSession], dict[str, int]]:
    """Most recent sessions first, with their mean first-audio latency; and the counts.

    `viewer` (a user) who is not staff sees no phone call but their own.
    """
    sessions = ConversationSession.objects.all()
    if viewer is not None and not viewer.is_staff:
        sessions = sessions.exclude(PHONE_CALL & ~Q(user_id=viewer.pk))
    if status:
        sessions = sessions.filter(status=status)
    if transport:
        sessions = sessions.filter(transport=transport)
    sessions = sessions.annotate(avg_first_audio_ms=Avg("turns__first_audio_ms")).order_by(
        "-started_at"
    )[:limit]
    active = Q(status=SessionStatus.ACTIVE)
    counts = ConversationSession.objects.aggregate(
        total_active=Count("id", filter=active),
        media_sessions=Count("id", filter=active & Q(transport=Transport.ACS)),
        browser_sessions=Count("id", filter=active & Q(transport=Transport.BROWSER)),
        total_disconnected=Count("id", filter=~active),
    )
    return sessions, counts


def session_search(
    *,
    viewer,
    agent: str | None = None,
    transport: str | None = None,
    status: str | None = None,
    started_after: dt.datetime | None = None,
    started_before: dt.datetime | None = None,
) -> QuerySet[ConversationSession]:
    """Sessions `viewer` may manage (staff: all; others: their own), newest first.

    Args:
        agent: sessions in which this agent answered a turn or is the active one.
        status: `live` (active) or `ended` (completed, failed or abandoned).
        started_after, started_before: bounds on the start time (inclusive, exclusive).
    """
    sessions = ConversationSession.objects.all()
    if not viewer.is_staff:
        from browser.models import SessionClaim

        claimed = SessionClaim.objects.filter(user_id=viewer.pk).values("session_id")
        sessions = sessions.filter(
            Q(user_id=viewer.pk) | Q(user__isnull=True, session_id__in=claimed)
        )
    if agent:
        answered = Turn.objects.filter(session=OuterRef("pk"), agent=agent)
        sessions = sessions.filter(Q(active_agent=agent) | Exists(answered))
    if transport:
        sessions = sessions.filter(transport=transport)
    if status == "live":
        sessions = sessions.filter(status=SessionStatus.ACTIVE)
    elif status == "ended":
        sessions = sessions.exclude(status=SessionStatus.ACTIVE)
    if started_after:
        sessions = sessions.filter(started_at__gte=started_after)
    if started_before:
        sessions = sessions.filter(started_at__lt=started_before)
    return sessions.order_by("-started_at", "-id")


def _token_usage(turns: QuerySet[Turn]) -> dict[str, Any] | None:
    usage = turns.aggregate(n=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"))
    if not usage["n"]:
        return None
    tokens_in, tokens_out = usage["tokens_in"] or 0, usage["tokens_out"] or 0
    return {
        "total_input_tokens": tokens_in,
        "total_output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
        "avg_input_per_turn": round(tokens_in / usage["n"], 2),
        "avg_output_per_turn": round(tokens_out / usage["n"], 2),
    }


def _latency_summary(turns: QuerySet[Turn]) -> dict[str, dict[str, float]]:
    rows = list(turns.values_list(*STAGE_FIELDS.values()))
    return latency_summary(rows, list(STAGE_FIELDS))


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    """Latency, tokens and duration of one session (the `metrics/session/{id}` answer)."""

    session: ConversationSession
    turn_count: int
    interrupted_turns: int
    session_duration_ms: float | None
    latency_summary: dict[str, dict[str, float]]
    token_usage: dict[str, Any] | None
    turns: list[Turn] | None
    errors: list[Any] | None


def session_metrics(*, session: ConversationSession, include_turns: bool = False) -> SessionMetrics:
    turns = Turn.objects.filter(session=session)
    end = session.ended_at or timezone.now()
    return SessionMetrics(
        session=session,
        turn_count=turns.count(),
        interrupted_turns=turns.filter(interrupted=True).count(),
        session_duration_ms=round((end - session.started_at).total_seconds() * 1000, 1),
        latency_summary=_latency_summary(turns),
        token_usage=_token_usage(turns),
        turns=list(turns.order_by("index")) if include_turns else None,
        errors=list(session.errors.order_by("created_at")[:100]) if include_turns else None,
    )


@dataclass(frozen=True, slots=True)
class MetricsSummary:
    """Aggregates across the sessions and turns of a time window."""

    window_minutes: int
    window_start: dt.datetime
    active_connections: int
    browser_sessions: int
    media_sessions: int
    total_connected: int
    total_disconnected: int
    session_ids: list[str]
    turn_count: int
    interrupted_turns: int
    error_count: int
    latency_summary: dict[str, dict[str, float]]
    token_usage: dict[str, Any] | None
    agents: dict[str, int]
    last_updated: dt.datetime


SUMMARY_MAX_SESSION_IDS = 100


def metrics_summary(*, window_minutes: int, now: dt.datetime | None = None) -> MetricsSummary:
    """Latency statistics over every turn of the last `window_minutes` (numpy over the values)."""
    now = now or timezone.now()
    start = now - dt.timedelta(minutes=window_minutes)
    turns = Turn.objects.filter(created_at__gte=start, created_at__lte=now)
    in_window = ConversationSession.objects.filter(
        Q(started_at__gte=start) | Q(ended_at__gte=start) | Q(status=SessionStatus.ACTIVE),
        started_at__lte=now,
    )
    active = Q(status=SessionStatus.ACTIVE)
    counts = in_window.aggregate(
        active=Count("id", filter=active),
        browser=Count("id", filter=active & Q(transport=Transport.BROWSER)),
        media=Count("id", filter=active & Q(transport=Transport.ACS)),
        connected=Count("id", filter=Q(started_at__gte=start)),
        disconnected=Count("id", filter=Q(ended_at__gte=start)),
    )
    turn_counts = turns.aggregate(
        n=Count("id"), interrupted=Count("id", filter=Q(interrupted=True))
    )
    agents = dict(turns.values_list("agent").annotate(n=Count("id")).order_by("agent"))
    error_count = SessionErrorRecord.objects.filter(
        created_at__gte=start, created_at__lte=now
    ).count()
    session_ids = list(
        in_window.order_by("-started_at").values_list("session_id", flat=True)[
            :SUMMARY_MAX_SESSION_IDS
        ]
    )
    return MetricsSummary(
        window_minutes=window_minutes,
        window_start=start,
        active_connections=counts["active"],
        browser_sessions=counts["browser"],
        media_sessions=counts["media"],
        total_connected=counts["connected"],
        total_disconnected=counts["disconnected"],
        session_ids=session_ids,
        turn_count=turn_counts["n"],
        interrupted_turns=turn_counts["interrupted"],
        error_count=error_count,
        latency_summary=_latency_summary(turns),
        token_usage=_token_usage(turns),
        agents=agents,
        last_updated=now,
    )


# --- the TTS worker pool ---------------------------------------------------------------------


def tts_pool_snapshot():
    """The process's TTS pool state (`media.tts_pool.PoolSnapshot`), or None if not set up."""
    return speech_stack().tts_pool_snapshot()


def phrase_cache_counts() -> dict[str, int] | None:
    """The process's TTS phrase cache: phrases, bytes and hits (None when it is off)."""
    return speech_stack().phrase_cache_counts()
