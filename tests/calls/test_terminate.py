"""Hanging up: through the SDK, idempotent, and the caller hanging up first."""

from __future__ import annotations

import pytest

from calls.models import Call
from tests.calls.conftest import requests_to

TARGET = "+14255550123"


def _dial(client) -> str:
    response = client.post("/api/v1/calls/initiate", {"target_number": TARGET}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["call_id"]


def _terminate(client, call_id, **extra):
    return client.post("/api/v1/calls/terminate", {"call_id": call_id, **extra}, format="json")


def test_terminate_hangs_up_once_and_then_answers_with_the_final_state(
    auth_client, live_acs, fake_acs, media_streams
):
    call_id = _dial(auth_client)
    fake_acs.flush()

    first = _terminate(auth_client, call_id, reason="caller_request")

    assert first.status_code == 200
    assert first.json()["status"] == "terminated"
    assert first.json()["call_status"] == "disconnected"
    assert first.json()["already_ended"] is False
    assert fake_acs.get_call(call_id).state == "disconnected"
    call = Call.objects.get(call_connection_id=call_id)
    assert call.status == "disconnected" and call.ended_at is not None
    assert "caller_request" in call.disconnect_reason

    # ACS then reports the disconnection; the media socket is told to close.
    deliveries = fake_acs.flush()
    assert [d.status for d in deliveries] == [200]
    assert media_streams[0].hangup.is_set()

    second = _terminate(auth_client, call_id)

    assert second.status_code == 200
    assert second.json()["status"] == "disconnected"
    assert second.json()["already_ended"] is True
    assert second.json()["ended_at"] == first.json()["ended_at"]
    assert len(requests_to(fake_acs, "POST", ":terminate")) == 1
    assert list(Call.objects.get(pk=call.pk).events.values_list("event_type", flat=True))[-2:] == [
        "Microsoft.Communication.MediaStreamingStopped",
        "Microsoft.Communication.CallDisconnected",
    ]


def test_caller_hanging_up_ends_the_call_and_terminate_is_then_a_no_op(
    auth_client, live_acs, fake_acs
):
    call_id = _dial(auth_client)
    fake_acs.flush()

    fake_acs.hang_up_from_caller(call_id)
    fake_acs.flush()

    call = Call.objects.get(call_connection_id=call_id)
    assert call.status == "disconnected"
    assert call.disconnect_reason == "The remote participant hung up."
    response = _terminate(auth_client, call_id)
    assert response.json()["already_ended"] is True
    assert requests_to(fake_acs, "POST", ":terminate") == []


def test_terminate_when_acs_already_dropped_the_call(auth_client, acs_settings, fake_acs):
    call_id = _dial(auth_client)
    fake_acs.calls.clear()  # ACS forgot the call (it ended without a callback reaching us)

    response = _terminate(auth_client, call_id)

    assert response.status_code == 200
    assert response.json()["call_status"] == "disconnected"
    assert "already gone" in Call.objects.get().disconnect_reason


def test_terminate_rejects_unknown_and_missing_ids(auth_client, acs_settings, fake_acs):
    unknown = _terminate(auth_client, "no-such-call")
    missing = auth_client.post("/api/v1/calls/terminate", {}, format="json")

    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_call"
    assert missing.status_code == 400 and "call_id" in missing.json()["fields"]
    assert fake_acs.requests == []


def test_terminate_needs_authentication(api_client, acs_settings, fake_acs, db):
    assert _terminate(api_client, "x").status_code == 401


def test_acs_error_on_hang_up_is_a_502_and_the_call_stays_up(auth_client, acs_settings, fake_acs):
    call_id = _dial(auth_client)
    fake_acs.fail_next("terminate", status=403, code="8501", message="Action is not allowed.")

    response = _terminate(auth_client, call_id)

    assert response.status_code == 502
    assert Call.objects.get().status == "ringing"


@pytest.mark.django_db(transaction=True)
async def test_a_consumer_can_hang_up_without_blocking_its_loop(acs_settings, fake_acs):
    from channels.db import database_sync_to_async

    from calls.services import call_terminate_async
    from tests.calls.factories import make_call

    acs_settings.BASE_URL = "http://127.0.0.1:9"  # callbacks are not delivered in this test
    call = await database_sync_to_async(make_call)(status="connected")
    fake_acs.calls[call.call_connection_id] = _fake_connected_call(call.call_connection_id)

    outcome = await call_terminate_async(
        call_connection_id=call.call_connection_id, reason="agent_ended"
    )

    assert outcome.already_ended is False and outcome.call.status == "disconnected"
    assert fake_acs.get_call(call.call_connection_id).state == "disconnected"


def _fake_connected_call(call_connection_id: str):
    from testing.fake_acs import FakeCall

    return FakeCall(
        call_connection_id=call_connection_id,
        server_call_id="scid",
        correlation_id="corr",
        direction="inbound",
        state="connected",
        callback_uri="http://127.0.0.1:9/api/v1/calls/callbacks",
        source=None,
        targets=[],
    )
