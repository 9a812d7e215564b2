"""Keypad menus on a phone call through the real SDK against the fake ACS: collecting digits
(DTMF recognition) for a tool, which never lets them reach the LLM, the logs or the stored
events; and pressing keys towards an IVR."""

from __future__ import annotations

import json
import logging

import pytest

from agentbuilder.services.demo import demo_user_create
from agentbuilder.tools.auth import KEYPAD_PROMPT
from agentbuilder.tools.runner import DatabaseToolRunner
from calls.models import CallEvent
from calls.services import InvalidCallRequest, keypad_send
from media.engine.snapshot import ToolContext
from tests.calls.conftest import requests_to, run_while_acs_answers
from tests.calls.test_transfer import CALLER, _connected_call

pytestmark = pytest.mark.django_db(transaction=True)


def _verify_while_the_caller_presses(fake_acs, call_id: str, press) -> tuple[dict, dict]:
    """The tool's result, and the recognize request ACS got before the caller's keys."""

    def verify() -> dict:
        context = ToolContext(session_id=call_id, agent_name="Concierge")
        arguments = {"full_name": "Alice Johnson"}
        return DatabaseToolRunner().run("verify_identity_by_keypad", arguments, context)

    result = run_while_acs_answers(fake_acs, ":recognize", verify, press)
    (request,) = requests_to(fake_acs, "POST", ":recognize")
    return result, request.body


def test_digits_pressed_on_the_keypad_verify_the_caller_and_are_kept_nowhere(
    staff_client, live_acs, fake_acs, caplog
):
    caplog.set_level(logging.DEBUG)
    demo_user_create(full_name="Alice Johnson", email="alice@example.com", codes={"ssn4": "4817"})
    call_id = _connected_call(staff_client, fake_acs)

    result, request = _verify_while_the_caller_presses(
        fake_acs, call_id, lambda: fake_acs.press(call_id, "4817")
    )

    assert result["success"] is True and result["verified"] is True, result
    assert request["recognizeInputType"] == "dtmf"
    options = request["recognizeOptions"]
    assert options["targetParticipant"]["phoneNumber"] == {"value": CALLER}
    assert options["dtmfOptions"]["maxTonesToCollect"] == 4
    assert options["dtmfOptions"]["stopTones"] == ["pound"]
    assert request["playPrompt"]["text"]["text"] == KEYPAD_PROMPT
    completed = CallEvent.objects.get(event_type__endswith="RecognizeCompleted")
    assert completed.payload["dtmfResult"] == {"toneCount": 4}
    stored = json.dumps(list(CallEvent.objects.values_list("payload", flat=True)))
    for text in (json.dumps(result), stored, caplog.text):
        assert "4817" not in text and '"four", "eight"' not in text


def test_a_caller_who_presses_nothing_is_asked_again(staff_client, live_acs, fake_acs):
    demo_user_create(full_name="Alice Johnson", email="alice@example.com", codes={"ssn4": "4817"})
    call_id = _connected_call(staff_client, fake_acs)

    result, _ = _verify_while_the_caller_presses(
        fake_acs, call_id, lambda: fake_acs.recognize_times_out(call_id)
    )

    assert result["success"] is False and result["error"] == "no_keys"
    assert CallEvent.objects.filter(event_type__endswith="RecognizeFailed").exists()


def test_the_keypad_tool_outside_a_phone_call_asks_for_the_digits_aloud(db):
    context = ToolContext(session_id="session_browser", agent_name="Concierge")
    result = DatabaseToolRunner().run(
        "verify_identity_by_keypad", {"full_name": "Alice Johnson"}, context
    )
    assert result["success"] is False and result["error"] == "no_keypad"


def test_keys_pressed_towards_an_ivr(staff_client, live_acs, fake_acs):
    call_id = _connected_call(staff_client, fake_acs)

    keypad_send(call_connection_id=call_id, digits="12#")
    fake_acs.flush()

    (request,) = requests_to(fake_acs, "POST", ":sendDtmfTones")
    assert request.body["tones"] == ["one", "two", "pound"]
    assert request.body["targetParticipant"]["phoneNumber"] == {"value": CALLER}
    assert fake_acs.get_call(call_id).sent_tones == ["one", "two", "pound"]
    assert CallEvent.objects.filter(event_type__endswith="SendDtmfTonesCompleted").exists()
    with pytest.raises(InvalidCallRequest):
        keypad_send(call_connection_id=call_id, digits="12x")
