"""A call whose server process died: hung up through Call Automation, recorded as disconnected."""

from __future__ import annotations

import pytest

from calls.models import Call
from metrics.models import ConversationSession
from tests.calls.conftest import requests_to
from tests.voiceproject.test_processes import _process, _session
from voiceproject import processes

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dead_process_call_is_hung_up_through_call_automation(auth_client, live_acs, fake_acs):
    response = auth_client.post(
        "/api/v1/calls/initiate", {"target_number": "+14255550123"}, format="json"
    )
    call_id = response.json()["call_id"]
    fake_acs.flush()
    assert Call.objects.get(call_connection_id=call_id).status == "connected"
    _process("elsewhere:44:dead", hostname="elsewhere", pid=44, seen_s_ago=600)
    _session(call_id, "elsewhere:44:dead", transport="acs", call_connection_id=call_id, turns=1)

    processes.sweep()

    assert len(requests_to(fake_acs, "POST", ":terminate")) == 1
    assert fake_acs.get_call(call_id).state == "disconnected"
    call = Call.objects.get(call_connection_id=call_id)
    assert call.status == "disconnected"
    assert "server process elsewhere:44:dead stopped" in call.disconnect_reason
    assert ConversationSession.objects.get(session_id=call_id).status == "disconnected"
