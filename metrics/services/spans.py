"""Session and turn spans, made on the metrics writer thread (never on the event loop).

Session spans live in this process from open to close; a turn whose session span is not here
(opened by another process) is traced as a root span carrying the session id.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.trace import Span

from voiceproject import tracing

logger = logging.getLogger(__name__)

# Only the writer thread touches this.
_session_spans: dict[str, Span] = {}


def session_started(
    *,
    session_id: str,
    transport: str,
    call_connection_id: str | None,
    streaming_mode: str,
    parent: Any,
    start_time_ns: int,
) -> None:
    try:
        previous = _session_spans.pop(session_id, None)
        if previous is not None:
            tracing.end_session_span(previous, status="reconnected")
        _session_spans[session_id] = tracing.start_session_span(
            session_id=session_id,
            transport=transport,
            call_connection_id=call_connection_id,
            streaming_mode=streaming_mode,
            parent=parent,
            start_time_ns=start_time_ns,
        )
    except Exception:
        logger.exception("session %s: session span could not start", session_id)


def turn_finished(metrics: Any, **kwargs: Any) -> None:
    session_id = kwargs["session_id"]
    try:
        tracing.record_turn(metrics, parent=_session_spans.get(session_id), **kwargs)
    except Exception:
        logger.exception("session %s: turn spans could not be recorded", session_id)


def session_error(session_id: str, stage: str, message: str) -> None:
    span = _session_spans.get(session_id)
    if span is not None:
        span.add_event("voice.error", {"voice.stage": stage, "error.message": message[:500]})


def session_ended(session_id: str, status: str, *, end_time_ns: int) -> None:
    span = _session_spans.pop(session_id, None)
    if span is None:
        return
    try:
        tracing.end_session_span(span, status=status, end_time_ns=end_time_ns)
    except Exception:
        logger.exception("session %s: session span could not end", session_id)
