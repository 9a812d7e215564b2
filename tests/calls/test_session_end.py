"""Ending a phone call's session through the sessions API hangs the call up through ACS."""

from __future__ import annotations

import pytest

from calls.models import Call
from metrics import services
from metrics.models import ConversationSession
from tests.calls.conftest import requests_to


@pytest.fixture
def no_wait(settings):
    settings.SESSION_END_WAIT_S = 0.05  # no media socket hosts the conversation here


def test_the_owner_ends_a_call_they_placed_and_acs_hangs_it_up(
    auth_client, user, live_acs, fake_acs, no_wait
):
    placed = auth_client.post(
        "/api/v1/calls/initiate",
        {"target_number": "+14255550123", "browser_session_id": "session-call-1"},
        format="json",
    )
    assert placed.status_code == 200, placed.content
    call_id = placed.json()["call_id"]
    fake_acs.flush()
    services.session_open(session_id="session-call-1", transport="acs", call_connection_id=call_id)
    services.flush_blocking()

    response = auth_client.delete("/api/v1/sessions/session-call-1")

    assert response.status_code == 200, response.content
    assert response.json()["call_hung_up"] is True
    assert response.json()["status"] == "completed"
    assert fake_acs.get_call(call_id).state == "disconnected"
    assert len(requests_to(fake_acs, "POST", ":terminate")) == 1
    assert Call.objects.get(call_connection_id=call_id).status == "disconnected"
    assert ConversationSession.objects.get(session_id="session-call-1").status == "completed"

    again = auth_client.delete("/api/v1/sessions/session-call-1")
    assert again.status_code == 200 and again.json()["call_hung_up"] is False
    assert len(requests_to(fake_acs, "POST", ":terminate")) == 1
