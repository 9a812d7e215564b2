"""Writes: conversation sessions and turns, as the speech engine reports them.

Every `session_*` / `turn_record` function here is a plain call that returns at once: it copies
its arguments and hands the database work to the background writer
(:mod:`metrics.writer`), so it is safe to call on the event loop of an async consumer
(no ORM, no I/O there) as well as from sync code. The writes of one session are applied in the
order they were made. `await flush()` (async) or `flush_blocking()` (sync) waits until
everything submitted so far is stored (while the database is down they raise
`DatabaseUnavailable` at once: the writes wait in the writer's buffer until it is back).

The housekeeping services at the end (`sessions_close_stale`, `agent_latency_rollup`,
`session_post_call`) do their ORM work in the calling thread: call them from sync code
(Celery tasks, management commands, tests).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from metrics import live
from metrics.aggregates import latency_summary
from metrics.models import (
    STAGE_FIELDS,
    AgentLatencyDaily,
    ConversationSession,
    SessionErrorRecord,
    SessionStatus,
    Transport,
    Turn,
)
from metrics.services import processes, spans
from metrics.writer import (
    BulkWrite,
    DatabaseUnavailable,
    flush,
    flush_blocking,
    writer,
)
from voiceproject.celery import app as celery_app

__all__ = [
    "DatabaseUnavailable",
    "agent_latency_rollup",
    "flush",
    "flush_blocking",
    "session_agent_change",
    "session_close",
    "session_error",
    "session_open",
    "session_post_call",
    "session_state_save",
    "sessions_close_stale",
    "turn_record",
]

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
MAX_ERROR_CHARS = 2_000
MAX_HISTORY_MESSAGES = 200
MAX_STATE_BYTES = 512 * 1024
TOOL_CALL_KEYS = ("name", "tool", "call_id", "status", "duration_ms", "start_ms")
# Keys whose values never reach the database (codes, passwords, credentials).
SECRET_KEY_PATTERN = re.compile(
    r"pass(word|wd|code)?$|secret|token|api[_-]?key|credential|verification[_-]?code|"
    r"mfa|otp|(^|_)pin$|(^|_)code$",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
POST_CALL_TASK = "metrics.tasks.post_call_process"


def _now() -> dt.datetime:
    return timezone.now()


def _from_epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


# --- the conversation ---------------------------------------------------------------------


def session_open(
    *,
    session_id: str,
    transport: str,
    call_connection_id: str | None = None,
    user_id: int | None = None,
    streaming_mode: str = "",
    trace_context: Any = None,
) -> None:
    """A conversation (re)connected. A known `session_id` is resumed, not duplicated.

    `trace_context`: the OpenTelemetry context of the request that opened it, e.g.
    `voiceproject.tracing.context_from_scope(scope)`, so the session span joins that trace.
    """
    if transport not in Transport.values:
        raise ValueError(f"transport must be one of {Transport.values}, not {transport!r}")
    opened_at = time.time()
    live.opened(session_id, transport)
    server_instance = processes.server_instance_id()

    def write() -> None:
        now = _from_epoch(opened_at)
        user = user_id if user_id and _user_exists(user_id) else None
        session = ConversationSession.objects.select_for_update().filter(session_id=session_id)
        session = session.first()
        if session is None:
            ConversationSession.objects.create(
                session_id=session_id,
                transport=transport,
                call_connection_id=call_connection_id or "",
                user_id=user,
                streaming_mode=streaming_mode,
                server_instance=server_instance,
                started_at=now,
                last_activity_at=now,
            )
        else:
            session.status = SessionStatus.ACTIVE
            session.ended_at = None
            session.last_activity_at = now
            session.transport = transport
            session.server_instance = server_instance
            if call_connection_id:
                session.call_connection_id = call_connection_id
            if streaming_mode:
                session.streaming_mode = streaming_mode
            if user:
                session.user_id = user
            session.save()
        transaction.on_commit(
            lambda: spans.session_started(
                session_id=session_id,
                transport=transport,
                call_connection_id=call_connection_id,
                streaming_mode=streaming_mode,
                parent=trace_context,
                start_time_ns=int(opened_at * 1e9),
            )
        )

    writer.submit(f"session_open {session_id}", write)


def turn_record(*, session_id: str, metrics: Any, end_of_speech_at: float | None = None) -> None:
    """Store one finished turn (a `media.engine.events.TurnMetrics`) and trace it.

    `end_of_speech_at` (epoch seconds), when the consumer knows it, places the turn's spans
    exactly; otherwise they are anchored at the moment of this call.
    """
    turn = copy.copy(metrics)
    turn.tool_calls = [_clean_tool_call(call) for call in (metrics.tool_calls or ())]
    pending = _PendingTurn(session_id, turn, time.time(), end_of_speech_at)
    writer.submit(
        f"turn_record {session_id} turn {turn.turn_id}", BulkWrite(_write_session_rows, pending)
    )


@dataclass(frozen=True, slots=True)
class _PendingTurn:
    session_id: str
    metrics: Any
    recorded_at: float
    end_of_speech_at: float | None


@dataclass(frozen=True, slots=True)
class _PendingState:
    session_id: str
    active_agent: str
    history: list[dict]
    tool_state: dict
    saved_at: float


_TURN_FIELDS = ("turn_count", "last_activity_at", "agents_visited", "active_agent")
_STATE_FIELDS = ("active_agent", "history", "tool_state", "last_activity_at", "agents_visited")


def _write_session_rows(pending: list[_PendingTurn | _PendingState]) -> None:
    """Store a run of turns and saved states, in order, with one query per kind and one
    update per session, whatever their number: a turn and the state saved after it cost one
    session update, not two."""
    ids = {p.session_id for p in pending}
    sessions = {
        s.session_id: s
        for s in ConversationSession.objects.select_for_update().filter(session_id__in=ids)
    }
    changed: dict[str, set[str]] = {}
    turns = []
    traced = []
    for p in pending:
        is_state = type(p) is _PendingState
        now = _from_epoch(p.saved_at if is_state else p.recorded_at)
        session = sessions.get(p.session_id) or _locked_session(p.session_id, now)
        sessions[p.session_id] = session
        session.last_activity_at = now
        changed.setdefault(p.session_id, set()).update(_STATE_FIELDS if is_state else _TURN_FIELDS)
        if is_state:
            session.active_agent = p.active_agent
            session.history = p.history
            session.tool_state = p.tool_state
            if p.active_agent:
                _visit(session, p.active_agent)
            continue
        turn = p.metrics
        session.turn_count += 1
        if turn.agent:
            _visit(session, turn.agent)
            if not session.active_agent:
                session.active_agent = turn.agent
        turns.append(
            Turn(
                session=session,
                index=session.turn_count,
                turn_id=turn.turn_id,
                agent=turn.agent or "",
                user_text=_text(turn.user_text, MAX_TEXT_CHARS),
                assistant_text=_text(turn.assistant_text, MAX_TEXT_CHARS),
                interrupted=bool(turn.interrupted),
                tokens_in=max(0, int(turn.tokens_in or 0)),
                tokens_out=max(0, int(turn.tokens_out or 0)),
                tool_calls=turn.tool_calls,
                created_at=now,
                **{field: _latency(getattr(turn, field)) for field in STAGE_FIELDS.values()},
            )
        )
        traced.append((p, session.turn_count, session.call_connection_id or None))
    if turns:
        Turn.objects.bulk_create(turns)
    for session_id, fields in changed.items():
        session = sessions[session_id]
        ConversationSession.objects.filter(pk=session.pk).update(
            **{field: getattr(session, field) for field in fields}
        )
    if traced:
        transaction.on_commit(lambda: _trace_turns(traced))


def _trace_turns(traced: list[tuple[_PendingTurn, int, str | None]]) -> None:
    for p, index, call_id in traced:
        spans.turn_finished(
            p.metrics,
            session_id=p.session_id,
            turn_index=index,
            call_connection_id=call_id,
            end_of_speech_ns=int(p.end_of_speech_at * 1e9) if p.end_of_speech_at else None,
            recorded_at_ns=int(p.recorded_at * 1e9),
        )


def session_agent_change(*, session_id: str, agent: str) -> None:
    """The active agent changed (a handoff): remember it and add it to the agents visited."""
    changed_at = time.time()

    def write() -> None:
        session = _locked_session(session_id, _from_epoch(changed_at))
        session.active_agent = agent
        session.last_activity_at = _from_epoch(changed_at)
        _visit(session, agent)
        session.save(update_fields=["active_agent", "last_activity_at", "agents_visited"])

    writer.submit(f"session_agent_change {session_id} {agent}", write)


def session_error(*, session_id: str, stage: str, message: str) -> None:
    """A provider, tool or session failure: counted on the session and kept for inspection."""
    failed_at = time.time()

    def write() -> None:
        now = _from_epoch(failed_at)
        session = _locked_session(session_id, now)
        SessionErrorRecord.objects.create(
            session=session,
            stage=_text(stage, 32),
            message=_text(message, MAX_ERROR_CHARS),
            created_at=now,
        )
        session.error_count += 1
        session.last_activity_at = now
        session.save(update_fields=["error_count", "last_activity_at"])
        transaction.on_commit(lambda: spans.session_error(session_id, stage, message))

    writer.submit(f"session_error {session_id} {stage}", write)


def session_state_save(
    *, session_id: str, active_agent: str, history: list[dict], tool_state: dict
) -> None:
    """What a reconnect with the same session id resumes: active agent, history, tool state.

    Secret-looking keys (codes, passwords, tokens) are redacted; history keeps its most recent
    messages within the size limits.
    """
    saved_at = time.time()
    history = _bounded_history(_redact(history))
    tool_state = _redact(tool_state)
    if _json_size(tool_state) > MAX_STATE_BYTES:
        logger.warning(
            "session %s: tool state over %d bytes not saved", session_id, MAX_STATE_BYTES
        )
        tool_state = {}
    pending = _PendingState(session_id, active_agent, history, tool_state, saved_at)
    writer.submit(f"session_state_save {session_id}", BulkWrite(_write_session_rows, pending))


def session_close(*, session_id: str, status: str = SessionStatus.COMPLETED) -> None:
    """The conversation ended (socket closed, call hung up); post-call processing follows."""
    if status not in SessionStatus.values or status == SessionStatus.ACTIVE:
        raise ValueError(f"a session closes as completed, failed or abandoned, not {status!r}")
    closed_at = time.time()
    live.closed(session_id)

    def write() -> None:
        now = _from_epoch(closed_at)
        session = _locked_session(session_id, now)
        session.status = status
        session.ended_at = max(now, session.started_at)
        session.last_activity_at = now
        session.save(update_fields=["status", "ended_at", "last_activity_at"])
        transaction.on_commit(
            lambda: spans.session_ended(session_id, status, end_time_ns=int(closed_at * 1e9))
        )
        transaction.on_commit(lambda: _queue_post_call(session_id))

    writer.submit(f"session_close {session_id}", write)


def _queue_post_call(session_id: str) -> None:
    # By name (`metrics.tasks` registers it at start-up): the tasks call the services.
    try:
        celery_app.tasks[POST_CALL_TASK].delay(session_id)
    except Exception:
        logger.exception("session %s: post-call processing could not be queued", session_id)


def _locked_session(session_id: str, now: dt.datetime) -> ConversationSession:
    session = ConversationSession.objects.select_for_update().filter(session_id=session_id).first()
    if session is None:
        # A write for a session whose open was lost (e.g. another process opened it and died):
        # keep the data rather than drop it.
        logger.warning("session %s: not opened here; recording it as a browser session", session_id)
        session = ConversationSession.objects.create(
            session_id=session_id,
            transport=Transport.BROWSER,
            started_at=now,
            last_activity_at=now,
        )
    return session


def _visit(session: ConversationSession, agent: str) -> None:
    if agent not in session.agents_visited:
        session.agents_visited = [*session.agents_visited, agent]


def _user_exists(user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id).exists()


def _text(value: Any, limit: int) -> str:
    # PostgreSQL text cannot hold NUL characters; a stray one must not cost the turn.
    return str(value or "").replace("\x00", "")[:limit]


def _latency(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value < 0:
        return None
    return round(value, 3)


def _clean_tool_call(call: Any) -> dict[str, Any]:
    """Name, status and timing only: arguments and results can hold personal data."""
    if not isinstance(call, dict):
        return {"name": str(call)}
    cleaned = {key: call[key] for key in TOOL_CALL_KEYS if key in call}
    if "name" not in cleaned and "tool" in cleaned:
        cleaned["name"] = cleaned.pop("tool")
    return json.loads(json.dumps(cleaned, default=str))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): REDACTED if SECRET_KEY_PATTERN.search(str(k)) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, default=str))


def _bounded_history(history: list[dict]) -> list[dict]:
    history = list(history)[-MAX_HISTORY_MESSAGES:]
    while history and _json_size(history) > MAX_STATE_BYTES:
        history = history[max(1, len(history) // 10) :]
    return history


# --- housekeeping (sync: Celery tasks) ------------------------------------------------------


def sessions_close_stale(*, idle_minutes: int, now: dt.datetime | None = None) -> list[str]:
    """Close active sessions without activity for `idle_minutes` as abandoned; their ids."""
    now = now or _now()
    cutoff = now - dt.timedelta(minutes=idle_minutes)
    closed = []
    with transaction.atomic():
        stale = ConversationSession.objects.select_for_update().filter(
            status=SessionStatus.ACTIVE, last_activity_at__lt=cutoff
        )
        for session in stale:
            session.status = SessionStatus.ABANDONED
            session.ended_at = max(session.last_activity_at, session.started_at)
            session.save(update_fields=["status", "ended_at"])
            closed.append(session.session_id)
    for session_id in closed:
        logger.info(
            "session %s: closed as abandoned after %d idle minutes", session_id, idle_minutes
        )
    return closed


def agent_latency_rollup(*, day: dt.date) -> int:
    """(Re)compute the per-agent, per-stage latency aggregates of one UTC day; rows written."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    turns = Turn.objects.filter(created_at__gte=start, created_at__lt=start + dt.timedelta(days=1))
    per_agent = turns.values("agent").annotate(
        turns=Count("id"),
        interrupted_turns=Count("id", filter=Q(interrupted=True)),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
    )
    columns = list(STAGE_FIELDS.values())
    written = 0
    with transaction.atomic():
        AgentLatencyDaily.objects.filter(day=day).delete()
        for row in per_agent:
            rows = list(turns.filter(agent=row["agent"]).values_list(*columns))
            for stage, stats in latency_summary(rows, list(STAGE_FIELDS)).items():
                AgentLatencyDaily.objects.create(
                    day=day,
                    agent=row["agent"],
                    stage=stage,
                    turns=row["turns"],
                    interrupted_turns=row["interrupted_turns"],
                    tokens_in=row["tokens_in"] or 0,
                    tokens_out=row["tokens_out"] or 0,
                    **stats,
                )
                written += 1
    return written


def session_post_call(*, session_id: str) -> dict[str, Any]:
    """After a session closed: store its latency summary and token usage on it."""
    from metrics import selectors

    with transaction.atomic():
        session = ConversationSession.objects.select_for_update().get(session_id=session_id)
        detail = selectors.session_metrics(session=session)
        session.summary = {
            "turn_count": detail.turn_count,
            "session_duration_ms": detail.session_duration_ms,
            "latency_summary": detail.latency_summary,
            "token_usage": detail.token_usage,
            "agents_visited": session.agents_visited,
            "error_count": session.error_count,
            "interrupted_turns": detail.interrupted_turns,
        }
        session.save(update_fields=["summary"])
    return session.summary
