"""Background jobs: stale sessions, daily latency rollups, post-call processing.

`make worker` runs them (worker + beat; schedule in settings.CELERY_BEAT_SCHEDULE). Without
REDIS_URL they run eagerly in the caller's process.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from metrics import services

logger = logging.getLogger(__name__)


@shared_task(name="metrics.tasks.close_stale_sessions")
def close_stale_sessions(idle_minutes: int | None = None) -> list[str]:
    """Close active sessions that saw no activity for a while (their socket died unseen)."""
    minutes = idle_minutes if idle_minutes is not None else settings.METRICS_STALE_SESSION_MINUTES
    closed = services.sessions_close_stale(idle_minutes=minutes)
    for session_id in closed:
        services.session_post_call(session_id=session_id)
    return closed


@shared_task(name="metrics.tasks.rollup_agent_latency")
def rollup_agent_latency(day: str | None = None) -> dict[str, int]:
    """Per-agent daily latency aggregates: the given ISO day, else yesterday and today (UTC)."""
    if day:
        days = [dt.date.fromisoformat(day)]
    else:
        today = timezone.now().astimezone(dt.UTC).date()
        days = [today - dt.timedelta(days=1), today]
    return {d.isoformat(): services.agent_latency_rollup(day=d) for d in days}


@shared_task(name=services.POST_CALL_TASK)
def post_call_process(session_id: str) -> dict:
    """After a session closed: compute and store its latency summary and token usage."""
    from metrics.models import ConversationSession

    try:
        summary = services.session_post_call(session_id=session_id)
    except ConversationSession.DoesNotExist:  # erased since it closed (the sessions API)
        logger.info("session %s: erased before its post-call summary", session_id)
        return {}
    logger.info(
        "session %s: post-call summary stored (%d turns)", session_id, summary["turn_count"]
    )
    return summary
