"""The `transfer_to_human` tool on a live phone call: through the real tool runner, the SDK
and the fake ACS; a failed transfer comes back as something the agent can tell the caller."""

from __future__ import annotations

import pytest

from agentbuilder.models import Escalation
from agentbuilder.tools.runner import DatabaseToolRunner
from calls.models import Call
from media.engine.snapshot import ToolContext
from tests.calls.conftest import requests_to, run_while_acs_answers
from tests.calls.test_transfer import PERSON, _connected_call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def transfer_settings(live_acs):
    live_acs.HUMAN_TRANSFER_TARGET = PERSON
    live_acs.HUMAN_TRANSFER_MODE = "cold"
    live_acs.TRANSFER_WAIT_S = 10.0
    return live_acs


def _run_tool_while_acs_answers(fake_acs, session_id: str) -> dict:
    def transfer() -> dict:
        context = ToolContext(session_id=session_id, agent_name="Concierge")
        arguments = {"reason": "wants to talk to a person about a loan"}
        return DatabaseToolRunner().run("transfer_to_human", arguments, context)

    return run_while_acs_answers(fake_acs, ":transferToParticipant", transfer, lambda: None)


def test_the_tool_transfers_the_phone_call(staff_client, transfer_settings, fake_acs):
    call_id = _connected_call(staff_client, fake_acs)

    result = _run_tool_while_acs_answers(fake_acs, call_id)

    assert result["success"] is True and result["transferred"] is True
    assert Call.objects.get(call_connection_id=call_id).disconnect_reason == (
        f"transferred to {PERSON}"
    )
    assert Escalation.objects.get(reference=result["escalation_id"]).kind == "transfer"


def test_a_failed_transfer_is_told_and_the_call_goes_on(staff_client, transfer_settings, fake_acs):
    call_id = _connected_call(staff_client, fake_acs)
    fake_acs.unreachable(PERSON)

    result = _run_tool_while_acs_answers(fake_acs, call_id)

    assert result["success"] is False and result["error"] == "transfer_failed"
    assert result["message"] == (
        "I'm sorry, I couldn't reach a colleague right now (The transfer target did not "
        "answer). I can keep helping you, or arrange a call back."
    )
    assert Call.objects.get(call_connection_id=call_id).status == "connected"


def test_without_a_phone_call_the_request_is_only_recorded(transfer_settings, fake_acs):
    context = ToolContext(session_id="session_browser_only", agent_name="Concierge")
    result = DatabaseToolRunner().run("transfer_to_human", {"reason": "needs a person"}, context)

    assert result["success"] is True and "transferred" not in result
    assert requests_to(fake_acs, "POST", ":transferToParticipant") == []
