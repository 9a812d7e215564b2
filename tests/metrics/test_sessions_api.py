"""The sessions resource (`/api/v1/sessions`) over sessions recorded through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from browser.services import session_claim
from metrics import services
from metrics.models import ConversationSession, SessionErrorRecord, Turn
from tests.calls.factories import make_call
from tests.metrics.conftest import turn_metrics

pytestmark = pytest.mark.django_db(transaction=True)


def _record(session_id: str, *, user_id=None, transport="browser", agents=("Concierge",), **kw):
    services.session_open(
        session_id=session_id, transport=transport, user_id=user_id, streaming_mode="realtime", **kw
    )
    for i, agent in enumerate(agents, start=1):
        services.turn_record(
            session_id=session_id,
            metrics=turn_metrics(
                session_id,
                i,
                agent=agent,
                user_text=f"question {i}",
                assistant_text=f"answer {i}",
                first_audio_ms=300.0 + i,
                tokens_in=10,
                tokens_out=5,
            ),
        )
    services.flush_blocking()


def _end(session_id: str) -> None:
    services.session_close(session_id=session_id)
    services.flush_blocking()


def _client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="someone-else", password="x-long-pass")


@pytest.fixture
def no_wait(settings):
    """No socket hosts the sessions of these tests: do not wait for one to answer."""
    settings.SESSION_END_WAIT_S = 0.05


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["session_id"] for s in response.json()["sessions"]]


def test_the_list_needs_sign_in(api_client):
    response = api_client.get("/api/v1/sessions")
    assert response.status_code == 401


def test_a_user_lists_their_own_sessions_and_staff_list_all(
    auth_client, user, other_user, staff_client
):
    _record("mine-signed-in", user_id=user.pk)
    _record("mine-claimed")  # stored without a user, claimed by the user (e.g. a call they placed)
    session_claim(session_id="mine-claimed", user=user)
    _record("theirs", user_id=other_user.pk)
    _record("anonymous-visitor")
    session_claim(session_id="anonymous-visitor")

    assert sorted(_ids(auth_client.get("/api/v1/sessions"))) == ["mine-claimed", "mine-signed-in"]
    assert sorted(_ids(staff_client.get("/api/v1/sessions"))) == [
        "anonymous-visitor",
        "mine-claimed",
        "mine-signed-in",
        "theirs",
    ]


def test_filters_by_agent_transport_status_and_start_time(staff_client):
    _record("concierge-only", agents=("Concierge",))
    _record("fraud-handoff", agents=("Concierge", "FraudAgent"))
    _record("phone", transport="acs", agents=("AuthAgent",), call_connection_id="cc-phone")
    _end("concierge-only")
    ConversationSession.objects.filter(session_id="phone").update(
        started_at=timezone.now() - dt.timedelta(days=3)
    )

    def ids(**query):
        return sorted(_ids(staff_client.get("/api/v1/sessions", query)))

    assert ids(agent="FraudAgent") == ["fraud-handoff"]
    assert ids(agent="Concierge") == ["concierge-only", "fraud-handoff"]
    assert ids(transport="acs") == ["phone"]
    assert ids(status="live") == ["fraud-handoff", "phone"]
    assert ids(status="ended") == ["concierge-only"]
    yesterday = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert ids(started_before=yesterday) == ["phone"]
    assert ids(started_after=yesterday, status="live") == ["fraud-handoff"]


def test_pages_and_bad_filters(staff_client):
    for i in range(5):
        _record(f"paged-{i}", agents=())
    first = staff_client.get("/api/v1/sessions", {"limit": 2})
    assert first.json()["total"] == 5 and first.json()["page"] == 1
    assert _ids(first) == ["paged-4", "paged-3"]  # newest first
    assert _ids(staff_client.get("/api/v1/sessions", {"limit": 2, "page": 3})) == ["paged-0"]
    past = staff_client.get("/api/v1/sessions", {"limit": 2, "page": 4})
    assert past.status_code == 404 and past.json()["detail"] == "Invalid page."

    for bad in (
        {"status": "sleeping"},
        {"transport": "fax"},
        {"limit": 0},
        {"started_after": "yesterday"},
        {"started_after": "2026-01-02T00:00Z", "started_before": "2026-01-01T00:00Z"},
    ):
        assert staff_client.get("/api/v1/sessions", bad).status_code == 400, bad


def test_the_owner_reads_turns_agents_and_metrics(auth_client, user):
    _record("detail-1", user_id=user.pk, agents=("Concierge", "FraudAgent"))
    services.session_error(session_id="detail-1", stage="tts", message="voice unavailable")
    services.flush_blocking()

    response = auth_client.get("/api/v1/sessions/detail-1")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session"]["session_id"] == "detail-1"
    assert body["session"]["live"] is True and body["session"]["transport"] == "browser"
    assert body["agent"] == {"active": "Concierge", "visited": ["Concierge", "FraudAgent"]}
    assert [t["user_text"] for t in body["turns"]] == ["question 1", "question 2"]
    assert [t["agent"] for t in body["turns"]] == ["Concierge", "FraudAgent"]
    assert body["metrics"]["turn_count"] == 2
    assert body["metrics"]["latency_summary"]["first_audio"]["max_ms"] == 302.0
    assert body["metrics"]["token_usage"]["total_tokens"] == 30
    assert body["errors"][0]["message"] == "voice unavailable"
    assert body["call"] is None


def test_a_phone_calls_session_shows_its_call(staff_client):
    call = make_call(call_connection_id="cc-detail", session_id="cc-detail")
    _record("cc-detail", transport="acs", call_connection_id="cc-detail")

    body = staff_client.get("/api/v1/sessions/cc-detail").json()

    assert body["call"]["call_connection_id"] == "cc-detail"
    assert body["call"]["to_number"] == call.to_number
    assert body["call"]["status"] == "connected"


def test_only_staff_and_the_owner_may_read_or_end_a_session(
    api_client, auth_client, user, other_user, settings
):
    settings.BROWSER_ALLOW_ANONYMOUS = True
    _record("owned", user_id=other_user.pk)
    make_call(call_connection_id="cc-unowned")
    _record("cc-unowned", transport="acs", call_connection_id="cc-unowned")
    anonymous_token = session_claim(session_id="visitor-1")
    _record("visitor-1")

    for path in ("/api/v1/sessions/owned", "/api/v1/sessions/cc-unowned"):
        assert auth_client.get(path).status_code == 403
        assert auth_client.delete(path).status_code == 403
        assert api_client.get(path).status_code == 401
    assert auth_client.get("/api/v1/sessions/nobody-knows").status_code == 404
    assert auth_client.delete("/api/v1/sessions/nobody-knows").status_code == 404
    assert Turn.objects.filter(session__session_id="owned").count() == 1  # nothing ended
    assert ConversationSession.objects.get(session_id="owned").status == "active"

    # The anonymous visitor who started a session presents its token.
    assert api_client.get("/api/v1/sessions/visitor-1").status_code == 401
    wrong = api_client.get("/api/v1/sessions/visitor-1", HTTP_X_SESSION_TOKEN="not-it")
    assert wrong.status_code == 401
    mine = api_client.get("/api/v1/sessions/visitor-1", HTTP_X_SESSION_TOKEN=anonymous_token)
    assert mine.status_code == 200 and mine.json()["turns"][0]["user_text"] == "question 1"
    settings.BROWSER_ALLOW_ANONYMOUS = False
    refused = api_client.get("/api/v1/sessions/visitor-1", HTTP_X_SESSION_TOKEN=anonymous_token)
    assert refused.status_code == 401


def test_ending_keeps_the_data_by_default_and_erases_it_when_asked(auth_client, user, no_wait):
    _record("to-end", user_id=user.pk, agents=("Concierge", "AuthAgent"))
    services.session_error(session_id="to-end", stage="llm", message="timeout")
    services.flush_blocking()

    # Marked live, but no socket answers for it: closed here.
    kept = auth_client.delete("/api/v1/sessions/to-end")

    assert kept.status_code == 200, kept.content
    assert kept.json() == {
        "session_id": "to-end",
        "was_live": False,
        "call_hung_up": False,
        "call_error": "",
        "erased": False,
        "status": "completed",
    }
    session = ConversationSession.objects.get(session_id="to-end")
    assert session.status == "completed" and session.ended_at is not None
    assert Turn.objects.filter(session=session).count() == 2
    assert auth_client.get("/api/v1/sessions/to-end").json()["session"]["live"] is False

    assert auth_client.delete("/api/v1/sessions/to-end?erase=maybe").status_code == 400
    erased = auth_client.delete("/api/v1/sessions/to-end?erase=true")

    assert erased.status_code == 200
    assert erased.json()["erased"] is True and erased.json()["status"] is None
    assert not ConversationSession.objects.filter(session_id="to-end").exists()
    assert not Turn.objects.filter(session_id=session.pk).exists()
    assert not SessionErrorRecord.objects.filter(session_id=session.pk).exists()
    assert auth_client.get("/api/v1/sessions/to-end").status_code == 404
    assert "to-end" not in _ids(auth_client.get("/api/v1/sessions"))


def test_the_sessions_endpoints_are_documented_with_their_status_codes(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    listing = schema["paths"]["/api/v1/sessions"]["get"]
    one = schema["paths"]["/api/v1/sessions/{session_id}"]
    assert set(listing["responses"]) == {"200", "400", "401", "404"}
    assert {p["name"] for p in listing["parameters"]} >= {
        "agent",
        "transport",
        "status",
        "started_after",
        "started_before",
        "page",
        "limit",
    }
    assert set(one["get"]["responses"]) == {"200", "401", "403", "404"}
    assert set(one["delete"]["responses"]) == {"200", "400", "401", "403", "404"}
    assert "erase" in {p["name"] for p in one["delete"]["parameters"]}
