"""Conversations recorded through the services, from async code as the consumers do.

The consumer side runs on a real event loop, where any ORM use would raise
SynchronousOnlyOperation; the stored rows are checked afterwards from sync code.
"""

from __future__ import annotations

import asyncio

import pytest

from metrics import selectors, services
from metrics.models import ConversationSession, SessionStatus, Turn
from metrics.writer import writer
from tests.metrics.conftest import turn_metrics

pytestmark = pytest.mark.django_db(transaction=True)


async def _conversation_with_a_handoff() -> None:
    services.session_open(
        session_id="conv-1", transport="acs", call_connection_id="call-9", streaming_mode="media"
    )
    for turn_id, agent in enumerate(["Concierge", "Concierge", "FraudAgent"], start=1):
        services.turn_record(
            session_id="conv-1",
            metrics=turn_metrics(
                "conv-1",
                turn_id,
                agent=agent,
                user_text=f"question {turn_id}",
                assistant_text=f"answer {turn_id}",
                stt_final_ms=100.0 * turn_id,
                first_audio_ms=400.0 + turn_id,
                tokens_in=10,
                tokens_out=5,
                tool_calls=[
                    {"name": "lookup", "duration_ms": 12.5, "status": "success", "arguments": {}}
                ],
            ),
        )
    services.session_error(session_id="conv-1", stage="tts", message="synthesis failed")
    services.session_close(session_id="conv-1")
    await services.flush()


def test_a_conversation_is_stored_turn_by_turn_in_order(eager_celery):
    asyncio.run(_conversation_with_a_handoff())
    session = ConversationSession.objects.get(session_id="conv-1")
    assert session.transport == "acs"
    assert session.call_connection_id == "call-9"
    assert session.status == SessionStatus.COMPLETED
    assert session.ended_at >= session.started_at
    assert session.turn_count == 3
    assert session.error_count == 1
    assert session.agents_visited == ["Concierge", "FraudAgent"]
    turns = list(Turn.objects.filter(session=session).order_by("index"))
    assert [t.index for t in turns] == [1, 2, 3]
    assert [t.user_text for t in turns] == ["question 1", "question 2", "question 3"]
    assert [t.stt_final_ms for t in turns] == [100.0, 200.0, 300.0]
    # Tool arguments can hold personal data: only name, status and timing are kept.
    assert turns[0].tool_calls == [{"name": "lookup", "duration_ms": 12.5, "status": "success"}]
    # Post-call processing stored the session's summary.
    assert session.summary["turn_count"] == 3
    assert session.summary["token_usage"]["total_tokens"] == 45
    assert session.summary["latency_summary"]["stt_final"]["max_ms"] == 300.0


HISTORY = [
    {"role": "user", "content": "I lost my card"},
    {"role": "assistant", "content": "Let me connect you to the card team."},
]


async def _first_connection() -> None:
    services.session_open(session_id="conv-2", transport="browser")
    services.session_state_save(
        session_id="conv-2",
        active_agent="CardAgent",
        history=HISTORY,
        tool_state={"slots": {"email": "a@b.c", "verification_code": "123456"}, "api_key": "k"},
    )
    services.session_close(session_id="conv-2", status="completed")
    await services.flush()


async def _reconnect() -> None:
    services.session_open(session_id="conv-2", transport="browser")
    await services.flush()


def test_reconnect_with_the_same_session_id_resumes_agent_and_history():
    asyncio.run(_first_connection())
    state = selectors.session_state_get("conv-2")
    assert state.active_agent == "CardAgent"
    assert state.history == HISTORY
    assert state.tool_state["slots"]["email"] == "a@b.c"
    assert "123456" not in str(state.tool_state)
    assert state.tool_state["api_key"] == "[redacted]"

    asyncio.run(_reconnect())
    session = ConversationSession.objects.get(session_id="conv-2")
    assert session.status == SessionStatus.ACTIVE
    assert session.ended_at is None
    assert ConversationSession.objects.filter(session_id="conv-2").count() == 1
    assert selectors.session_state_get("conv-2").active_agent == "CardAgent"
    assert selectors.session_state_get("unknown") is None


def test_bad_input_does_not_lose_the_turn_or_the_session():
    services.session_open(session_id="conv-3", transport="browser")
    # A user id that does not exist must not break the session (it is just not linked).
    services.session_open(session_id="conv-4", transport="browser", user_id=987654)
    services.turn_record(
        session_id="conv-3",
        metrics=turn_metrics("conv-3", 1, user_text="nul\x00 byte", stt_final_ms=float("nan")),
    )
    services.flush_blocking()
    turn = Turn.objects.get(session__session_id="conv-3")
    assert turn.user_text == "nul byte"
    assert turn.stt_final_ms is None
    session = ConversationSession.objects.get(session_id="conv-4")
    assert session.user_id is None


def test_one_failing_write_in_a_batch_does_not_lose_the_others():
    def boom() -> None:
        raise RuntimeError("a broken write")

    failed_before = writer.failed
    services.session_open(session_id="conv-5", transport="browser")
    writer.submit("broken", boom)
    services.turn_record(session_id="conv-5", metrics=turn_metrics("conv-5", 1))
    services.flush_blocking()
    assert writer.failed == failed_before + 1
    assert Turn.objects.filter(session__session_id="conv-5").count() == 1


def test_turns_for_a_session_opened_elsewhere_are_kept():
    services.turn_record(session_id="orphan", metrics=turn_metrics("orphan", 7))
    services.flush_blocking()
    turn = Turn.objects.get(session__session_id="orphan")
    assert turn.index == 1 and turn.turn_id == 7


def test_invalid_transport_or_close_status_is_refused_at_once():
    with pytest.raises(ValueError, match="transport"):
        services.session_open(session_id="x", transport="carrier-pigeon")
    with pytest.raises(ValueError, match="closes as"):
        services.session_close(session_id="x", status="active")


def test_sync_callers_flush_with_flush_blocking():
    services.session_open(session_id="sync-1", transport="browser")
    services.flush_blocking()
    assert ConversationSession.objects.filter(session_id="sync-1").exists()


def test_health_counts_sessions_open_in_this_process(api_client):
    before = api_client.get("/api/v1/health").json()["active_sessions"]
    services.session_open(session_id="live-1", transport="acs")
    body = api_client.get("/api/v1/health").json()
    assert body["active_sessions"] == before + 1
    assert body["session_metrics"]["acs"] >= 1
    services.session_close(session_id="live-1")
    assert api_client.get("/api/v1/health").json()["active_sessions"] == before
    services.flush_blocking()


def test_a_handoff_a_turn_and_an_error_are_stored_on_the_session():
    services.session_open(session_id="events", transport="browser")
    services.session_agent_change(session_id="events", agent="B")
    services.turn_record(session_id="events", metrics=turn_metrics("events", 1, agent="B"))
    services.session_error(session_id="events", stage="llm", message="timeout")
    services.flush_blocking()
    session = ConversationSession.objects.get(session_id="events")
    assert session.active_agent == "B"
    assert session.agents_visited == ["B"]
    assert session.turn_count == 1
    assert session.error_count == 1
    assert session.errors.get().message == "timeout"


async def _interleaved(sessions: int, turns: int) -> None:
    for n in range(sessions):
        services.session_open(session_id=f"many-{n}", transport="acs")
    for turn_id in range(1, turns + 1):
        for n in range(sessions):
            services.turn_record(
                session_id=f"many-{n}",
                metrics=turn_metrics(f"many-{n}", turn_id, first_audio_ms=float(turn_id)),
            )
    await services.flush()


def test_interleaved_sessions_keep_their_own_turn_order():
    asyncio.run(_interleaved(sessions=8, turns=25))
    for n in range(8):
        session = ConversationSession.objects.get(session_id=f"many-{n}")
        turns = list(session.turns.order_by("index").values_list("index", "turn_id"))
        assert turns == [(i, i) for i in range(1, 26)]
        assert session.turn_count == 25
