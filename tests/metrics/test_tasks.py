"""The Celery jobs: locally run in-process, in CI on a real worker through Redis."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from metrics.models import AgentLatencyDaily, ConversationSession, SessionStatus, Turn
from metrics.tasks import close_stale_sessions, post_call_process, rollup_agent_latency
from voiceproject.celery import app as celery_app

DAY = dt.date(2025, 3, 14)


def _session(session_id: str, *, idle_minutes: float, status: str = "active"):
    last = timezone.now() - dt.timedelta(minutes=idle_minutes)
    return ConversationSession.objects.create(
        session_id=session_id,
        transport="acs",
        status=status,
        started_at=last - dt.timedelta(minutes=1),
        last_activity_at=last,
    )


def _turns_on(day: dt.date, agent: str, first_audio_ms: list[float], session_id: str):
    at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    session = ConversationSession.objects.create(
        session_id=session_id,
        transport="browser",
        status="completed",
        started_at=at,
        ended_at=at + dt.timedelta(minutes=10),
        last_activity_at=at,
        turn_count=len(first_audio_ms),
    )
    Turn.objects.bulk_create(
        Turn(
            session=session,
            index=i,
            turn_id=i,
            agent=agent,
            first_audio_ms=ms,
            stt_final_ms=100.0,
            tokens_in=10,
            tokens_out=3,
            interrupted=i == 1,
            created_at=at,
        )
        for i, ms in enumerate(first_audio_ms, start=1)
    )
    return session


def _prepare():
    _session("stale", idle_minutes=45)
    _session("fresh", idle_minutes=5)
    _session("done", idle_minutes=300, status="completed")
    _turns_on(DAY, "Concierge", [float(ms) for ms in range(201, 301)], "day-1")
    _turns_on(DAY, "FraudAgent", [500.0, 700.0], "day-2")
    _turns_on(DAY + dt.timedelta(days=1), "Concierge", [9999.0], "next-day")


def _check_stale_closed(closed):
    assert closed == ["stale"]
    stale = ConversationSession.objects.get(session_id="stale")
    assert stale.status == SessionStatus.ABANDONED
    assert stale.ended_at == stale.last_activity_at
    assert stale.summary["turn_count"] == 0
    assert ConversationSession.objects.get(session_id="fresh").status == SessionStatus.ACTIVE


def _check_rollup(written):
    assert written == {DAY.isoformat(): 4}  # two agents x two measured stages
    concierge = AgentLatencyDaily.objects.get(day=DAY, agent="Concierge", stage="first_audio")
    assert concierge.count == 100 and concierge.turns == 100
    assert concierge.p95_ms == pytest.approx(295.05)
    assert concierge.min_ms == 201.0 and concierge.max_ms == 300.0
    assert concierge.interrupted_turns == 1
    assert concierge.tokens_in == 1000
    fraud = AgentLatencyDaily.objects.get(day=DAY, agent="FraudAgent", stage="first_audio")
    assert fraud.p50_ms == 600.0
    assert not AgentLatencyDaily.objects.filter(day=DAY, stage="barge_in").exists()


@pytest.mark.django_db
def test_jobs_do_their_work_in_process():
    _prepare()
    _check_stale_closed(close_stale_sessions.apply(kwargs={"idle_minutes": 30}).get())
    _check_rollup(rollup_agent_latency.apply(kwargs={"day": DAY.isoformat()}).get())
    # Idempotent: a second rollup replaces the day's rows.
    rollup_agent_latency.apply(kwargs={"day": DAY.isoformat()}).get()
    assert AgentLatencyDaily.objects.filter(day=DAY).count() == 4
    summary = post_call_process.apply(args=["day-1"]).get()
    assert summary["latency_summary"]["first_audio"]["p50_ms"] == pytest.approx(250.5)
    assert ConversationSession.objects.get(session_id="day-1").summary == summary


def test_beat_schedules_the_housekeeping():
    schedule = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert {"metrics.tasks.close_stale_sessions", "metrics.tasks.rollup_agent_latency"} <= schedule
    for name in schedule:
        celery_app.loader.import_default_modules()
        assert name in celery_app.tasks, name


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_jobs_run_on_a_real_worker_through_redis(redis_url):
    from celery.contrib.testing.worker import start_worker

    assert celery_app.conf.broker_url.startswith("redis://")
    assert not celery_app.conf.task_always_eager
    _prepare()
    # A queue of our own: no other worker on this Redis may take these tasks.
    queue = f"metrics-test-{uuid.uuid4().hex}"
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10
    ) as worker:
        closed = close_stale_sessions.apply_async(kwargs={"idle_minutes": 30}, queue=queue)
        rollup = rollup_agent_latency.apply_async(kwargs={"day": DAY.isoformat()}, queue=queue)
        post_call = post_call_process.apply_async(args=["day-2"], queue=queue)
        _check_stale_closed(closed.get(timeout=30))
        _check_rollup(rollup.get(timeout=30))
        assert post_call.get(timeout=30)["turn_count"] == 2
        assert closed.status == "SUCCESS"
        assert worker.hostname
    stored = ConversationSession.objects.get(session_id="day-2").summary
    assert stored["latency_summary"]["first_audio"]["max_ms"] == 700.0
