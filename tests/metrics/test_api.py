"""The metrics endpoints over conversations recorded through the services."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from metrics import services
from metrics.models import ConversationSession, Turn
from tests.metrics.conftest import turn_metrics

pytestmark = pytest.mark.django_db(transaction=True)

# A known distribution: first audio at 301..400 ms, STT final at 10, 20, ... 1000 ms.
FIRST_AUDIO_MS = [300.0 + i for i in range(1, 101)]
STT_MS = [10.0 * i for i in range(1, 101)]


def _record_conversation(session_id: str, *, user_id: int | None = None, turns: int = 100):
    services.session_open(
        session_id=session_id, transport="browser", user_id=user_id, streaming_mode="cascade"
    )
    for i in range(turns):
        services.turn_record(
            session_id=session_id,
            metrics=turn_metrics(
                session_id,
                i + 1,
                user_text=f"utterance {i}",
                assistant_text=f"reply {i}",
                stt_final_ms=STT_MS[i],
                first_audio_ms=FIRST_AUDIO_MS[i],
                llm_ttft_ms=50.0,
                tokens_in=100,
                tokens_out=20,
                interrupted=i % 10 == 0,
            ),
        )
    services.flush_blocking()


@pytest.mark.django_db
def test_metrics_need_an_authenticated_user(api_client):
    for path in ("/api/v1/metrics/sessions", "/api/v1/metrics/summary"):
        assert api_client.get(path).status_code == 401


def test_session_detail_has_interpolated_percentiles_of_the_known_distribution(auth_client):
    _record_conversation("perc-1")
    response = auth_client.get("/api/v1/metrics/session/perc-1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session_id"] == "perc-1"
    assert body["transport_type"] == "BROWSER"
    assert body["turn_count"] == 100
    assert body["interrupted_turns"] == 10
    first_audio = body["latency_summary"]["first_audio"]
    assert first_audio["count"] == 100
    assert first_audio["min_ms"] == 301.0 and first_audio["max_ms"] == 400.0
    assert first_audio["avg_ms"] == pytest.approx(350.5)
    # Linear interpolation between order statistics, not an index pick.
    assert first_audio["p50_ms"] == pytest.approx(350.5)
    assert first_audio["p95_ms"] == pytest.approx(395.05)
    assert first_audio["p99_ms"] == pytest.approx(399.01)
    assert body["latency_summary"]["stt_final"]["p95_ms"] == pytest.approx(950.5)
    assert "barge_in" not in body["latency_summary"]  # never measured: no stage invented
    assert body["token_usage"] == {
        "total_input_tokens": 10000,
        "total_output_tokens": 2000,
        "total_tokens": 12000,
        "avg_input_per_turn": 100.0,
        "avg_output_per_turn": 20.0,
    }
    assert body["status"] == "active"
    assert body["session_duration_ms"] >= 0
    assert body["turns"] is None


def test_percentiles_are_defined_for_few_samples(auth_client):
    _record_conversation("few-1", turns=3)
    stats = auth_client.get("/api/v1/metrics/session/few-1").json()["latency_summary"]
    expected = np.percentile(FIRST_AUDIO_MS[:3], 95)
    assert stats["first_audio"]["p95_ms"] == pytest.approx(expected)
    assert stats["first_audio"]["p99_ms"] <= stats["first_audio"]["max_ms"]


def test_turns_are_shown_to_staff_and_to_the_session_user_only(
    auth_client, user, staff_client, settings
):
    settings.BROWSER_ALLOW_ANONYMOUS = False  # "theirs", unowned, is not open to all
    _record_conversation("mine", user_id=user.id, turns=2)
    _record_conversation("theirs", turns=2)
    mine = auth_client.get("/api/v1/metrics/session/mine?include_turns=true")
    assert mine.status_code == 200
    turns = mine.json()["turns"]
    assert [t["turn_number"] for t in turns] == [1, 2]
    assert turns[0]["user_text"] == "utterance 0"
    assert turns[0]["total_latency_ms"] == FIRST_AUDIO_MS[0]
    assert turns[0]["input_tokens"] == 100
    assert turns[0]["interrupted"] is True
    assert auth_client.get("/api/v1/metrics/session/theirs?include_turns=true").status_code == 403
    assert auth_client.get("/api/v1/metrics/session/theirs").status_code == 200
    staff = staff_client.get("/api/v1/metrics/session/theirs?include_turns=true")
    assert len(staff.json()["turns"]) == 2


def test_an_anonymous_conversation_is_read_by_its_creator_with_its_token(
    client, auth_client, staff_client, user, settings
):
    from browser.services import session_claim

    settings.BROWSER_ALLOW_ANONYMOUS = True
    token = session_claim(session_id="anon-1")
    _record_conversation("anon-1", turns=2)
    _record_conversation("owned-1", user_id=user.id, turns=1)
    url = "/api/v1/metrics/session/anon-1?include_turns=true"
    response = client.get(url, HTTP_X_SESSION_TOKEN=token)
    assert response.status_code == 200 and len(response.json()["turns"]) == 2
    assert staff_client.get(url).json()["turns"]

    # The id alone, or another visitor's token, reads nothing; signed in, the figures only.
    for headers in ({}, {"HTTP_X_SESSION_TOKEN": "not-the-token"}):
        refused = client.get(url, **headers)
        assert refused.status_code == 401 and "utterance" not in refused.content.decode()
        assert client.get("/api/v1/metrics/session/anon-1", **headers).status_code == 401
    assert auth_client.get(url).status_code == 403
    assert auth_client.get("/api/v1/metrics/session/anon-1").status_code == 200

    # Anonymous reads stop where anonymous conversations are not allowed.
    settings.BROWSER_ALLOW_ANONYMOUS = False
    assert client.get(url, HTTP_X_SESSION_TOKEN=token).status_code == 401

    # A signed-in user's session stays theirs.
    assert client.get("/api/v1/metrics/session/owned-1").status_code in (401, 403)
    owned = client.get("/api/v1/metrics/session/owned-1?include_turns=true")
    assert owned.status_code in (401, 403)


def _record_phone_call(session_id: str, *, user_id: int | None = None, turns: int = 2):
    """A phone call's conversation as the ACS media socket records it."""
    services.session_open(
        session_id=session_id, transport="acs", call_connection_id=session_id, user_id=user_id
    )
    for i in range(turns):
        services.turn_record(
            session_id=session_id,
            metrics=turn_metrics(session_id, i + 1, user_text=f"my card number is 4{i}17"),
        )
    services.flush_blocking()


@pytest.mark.parametrize("anonymous_allowed", [True, False])
def test_a_phone_calls_session_is_read_by_staff_only(
    client, auth_client, staff_client, settings, anonymous_allowed
):
    settings.BROWSER_ALLOW_ANONYMOUS = anonymous_allowed  # whatever it says
    _record_phone_call("sim-6f1c2e0a")
    for query in ("", "?include_turns=true"):
        anonymous = client.get(f"/api/v1/metrics/session/sim-6f1c2e0a{query}")
        assert anonymous.status_code == 401, anonymous.content
        assert "card number" not in anonymous.content.decode()
        signed_in = auth_client.get(f"/api/v1/metrics/session/sim-6f1c2e0a{query}")
        assert signed_in.status_code == 403, signed_in.content
        assert "card number" not in signed_in.content.decode()
    staff = staff_client.get("/api/v1/metrics/session/sim-6f1c2e0a?include_turns=true")
    assert staff.status_code == 200
    assert [t["user_text"] for t in staff.json()["turns"]] == [
        "my card number is 4017",
        "my card number is 4117",
    ]


def test_a_browser_session_that_became_a_call_belongs_to_its_owner_and_staff(
    client, auth_client, user, django_user_model, settings
):
    """A call placed from a signed-in user's page carries on that page's session."""
    settings.BROWSER_ALLOW_ANONYMOUS = True
    _record_conversation("session-dialled", user_id=user.id, turns=1)
    _record_phone_call("session-dialled", turns=1)
    mine = auth_client.get("/api/v1/metrics/session/session-dialled?include_turns=true")
    assert mine.status_code == 200 and len(mine.json()["turns"]) == 2
    assert client.get("/api/v1/metrics/session/session-dialled").status_code == 401


def test_signed_in_users_list_only_their_own_phone_calls(auth_client, staff_client, user):
    _record_phone_call("sim-theirs", turns=1)
    _record_phone_call("sim-mine", user_id=user.id, turns=1)
    _record_conversation("browser-1", turns=1)
    listed = {
        s["session_id"] for s in auth_client.get("/api/v1/metrics/sessions").json()["sessions"]
    }
    assert listed == {"sim-mine", "browser-1"}
    everything = staff_client.get("/api/v1/metrics/sessions").json()["sessions"]
    assert {s["session_id"] for s in everything} == {"sim-theirs", "sim-mine", "browser-1"}


@pytest.mark.django_db
def test_unknown_session_is_404(auth_client):
    assert auth_client.get("/api/v1/metrics/session/nope").status_code == 404


def test_session_list_counts_active_and_closed(staff_client):
    services.session_open(session_id="a-1", transport="acs", call_connection_id="c-1")
    services.session_open(session_id="b-1", transport="browser")
    services.session_open(session_id="b-2", transport="browser")
    services.turn_record(session_id="b-2", metrics=turn_metrics("b-2", 1, first_audio_ms=300))
    services.turn_record(session_id="b-2", metrics=turn_metrics("b-2", 2, first_audio_ms=500))
    services.session_close(session_id="b-1")
    services.flush_blocking()
    body = staff_client.get("/api/v1/metrics/sessions").json()
    assert body["total_active"] == 2
    assert body["media_sessions"] == 1
    assert body["browser_sessions"] == 1
    assert body["total_disconnected"] == 1
    by_id = {s["session_id"]: s for s in body["sessions"]}
    assert by_id["a-1"]["transport_type"] == "ACS"
    assert by_id["a-1"]["call_connection_id"] == "c-1"
    assert by_id["b-2"]["avg_first_audio_ms"] == 400.0
    assert by_id["b-1"]["status"] == "completed"
    active = staff_client.get("/api/v1/metrics/sessions?status=active&transport=acs").json()
    assert [s["session_id"] for s in active["sessions"]] == ["a-1"]
    assert staff_client.get("/api/v1/metrics/sessions?limit=0").status_code == 400


def test_summary_aggregates_only_the_window(auth_client):
    _record_conversation("recent", turns=100)
    # An old session with slow turns outside a 60 minute window.
    old = timezone.now() - dt.timedelta(hours=3)
    session = ConversationSession.objects.create(
        session_id="old",
        transport="acs",
        started_at=old,
        ended_at=old + dt.timedelta(minutes=5),
        last_activity_at=old,
        status="completed",
    )
    Turn.objects.bulk_create(
        Turn(
            session=session, index=i, turn_id=i, agent="Old", first_audio_ms=9000.0, created_at=old
        )
        for i in range(1, 21)
    )
    body = auth_client.get("/api/v1/metrics/summary?window_minutes=60").json()
    assert body["window_minutes"] == 60
    assert body["turn_count"] == 100
    assert body["latency_summary"]["first_audio"]["p95_ms"] == pytest.approx(395.05)
    assert body["latency_summary"]["first_audio"]["max_ms"] == 400.0
    assert body["session_ids"] == ["recent"]
    assert body["agents"] == {"Concierge": 100}
    assert body["token_usage"]["total_tokens"] == 12000
    assert body["interrupted_turns"] == 10
    assert body["active_connections"] == 1

    wide = auth_client.get("/api/v1/metrics/summary?window_minutes=1440").json()
    assert wide["turn_count"] == 120
    assert wide["latency_summary"]["first_audio"]["max_ms"] == 9000.0
    assert set(wide["session_ids"]) == {"recent", "old"}
    assert wide["total_disconnected"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("window", ["0", "1441", "abc"])
def test_summary_window_is_validated(auth_client, window):
    assert auth_client.get(f"/api/v1/metrics/summary?window_minutes={window}").status_code == 400


@pytest.mark.django_db
def test_the_schema_documents_the_metrics_and_pool_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/v1/metrics/sessions",
        "/api/v1/metrics/session/{session_id}",
        "/api/v1/metrics/summary",
        "/api/v1/tts/dedicated/health",
        "/api/v1/tts/dedicated/metrics",
        "/api/v1/tts/dedicated/status",
    ):
        assert path in schema["paths"], path


def _measured_loop(monkeypatch):
    import time

    from metrics import loop_lag

    monitor = loop_lag.LoopLagMonitor()
    now = time.monotonic()
    for i in range(120):
        monitor.record(2.0, monotonic_s=now, wall_s=1000 + i * 0.02)
    monitor.record(400.0, monotonic_s=now, wall_s=1003)
    monkeypatch.setattr(loop_lag, "_monitor", monitor)


@pytest.mark.django_db
def test_loop_lag_endpoint_gives_the_window_and_a_series_per_second(
    api_client, auth_client, monkeypatch
):
    _measured_loop(monkeypatch)
    assert api_client.get("/api/v1/metrics/loop").status_code in (401, 403)
    body = auth_client.get("/api/v1/metrics/loop").json()
    assert body["ticks"] == 121 and body["max_ms"] == 400.0 and body["p50_ms"] == 2.0
    assert body["stalls"]["over_250_ms"] == 1 and body["stalls"]["over_1000_ms"] == 0
    assert body["saturated"] is True  # p99 over the default LOOP_LAG_READY_MS (100)
    seconds = [point["t"] for point in body["series"]]
    assert seconds == [1000, 1001, 1002]  # the second still under way is not in the series
    assert body["series"][0]["ticks"] == 50 and body["series"][0]["max_ms"] == 2.0


@pytest.mark.django_db
def test_pool_metrics_include_the_event_loop(client, monkeypatch):
    from media.providers.fakes import FakeTTS
    from media.tts_pool import configure_default_pool, default_pool

    _measured_loop(monkeypatch)
    monkeypatch.setattr("media.tts_pool._default", default_pool())
    configure_default_pool(lambda voice: FakeTTS(mode="silence"), max_size=2)
    loop = client.get("/api/v1/tts/dedicated/metrics").json()["event_loop"]
    assert loop["running"] is False  # fed by hand here, not ticking
    assert loop["max_ms"] == 400.0 and loop["stalls"]["over_100_ms"] == 1
    assert "series" not in loop


@pytest.mark.django_db
def test_the_schema_documents_the_loop_lag_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/v1/metrics/loop" in schema["paths"]
    pool = schema["components"]["schemas"]["TTSPoolMetrics"]
    assert "event_loop" in pool["properties"]
