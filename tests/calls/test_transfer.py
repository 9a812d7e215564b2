"""Transferring a call to a person through the real SDK against the fake ACS: cold and warm,
accepted and failed, with the callbacks ACS sends stored as the call's events."""

from __future__ import annotations

from calls.models import Call, CallEvent
from calls.services import transfer_outcome
from tests.calls.conftest import requests_to

CALLER = "+14255550123"
PERSON = "+14255550999"


def _connected_call(client, fake_acs) -> str:
    response = client.post("/api/v1/calls/initiate", {"target_number": CALLER}, format="json")
    assert response.status_code == 200, response.content
    fake_acs.flush()
    call_id = response.json()["call_id"]
    assert Call.objects.get(call_connection_id=call_id).status == "connected"
    return call_id


def _transfer(client, call_id: str, **body):
    return client.post("/api/v1/calls/transfer", {"call_id": call_id, **body}, format="json")


def _events(call_id: str) -> list[str]:
    """The call's events in order (the media stream's start and stop left out)."""
    events = CallEvent.objects.filter(call__call_connection_id=call_id).order_by("id")
    return [e.short_type for e in events if not e.short_type.startswith("MediaStreaming")]


def test_a_cold_transfer_hands_the_caller_over_and_ends_the_agents_leg(
    staff_client, live_acs, fake_acs
):
    call_id = _connected_call(staff_client, fake_acs)

    response = _transfer(staff_client, call_id, target=PERSON, mode="cold")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "requested" and body["mode"] == "cold"
    (request,) = requests_to(fake_acs, "POST", ":transferToParticipant")
    assert request.body["targetParticipant"]["phoneNumber"] == {"value": PERSON}
    assert request.body["operationContext"] == body["operation_context"]
    context = body["operation_context"]
    assert transfer_outcome(call_connection_id=call_id, operation_context=context).state == (
        "pending"
    )

    assert all(d.status == 200 for d in fake_acs.flush())

    call = Call.objects.get(call_connection_id=call_id)
    assert call.status == "disconnected"
    assert call.disconnect_reason == f"transferred to {PERSON}"
    assert _events(call_id)[-3:] == [
        "TransferRequested",
        "CallTransferAccepted",
        "CallDisconnected",
    ]
    accepted = CallEvent.objects.get(call=call, event_type__endswith="CallTransferAccepted")
    assert accepted.payload["transferTarget"]["rawId"] == f"4:{PERSON}"
    assert accepted.payload["operationContext"] == context
    outcome = transfer_outcome(call_connection_id=call_id, operation_context=context)
    assert outcome.state == "transferred"
    assert fake_acs.get_call(call_id).transferred_to["phoneNumber"]["value"] == PERSON


def test_a_failed_cold_transfer_keeps_the_call_and_says_why(staff_client, live_acs, fake_acs):
    call_id = _connected_call(staff_client, fake_acs)
    fake_acs.unreachable(PERSON)

    response = _transfer(staff_client, call_id, target=PERSON)
    fake_acs.flush()

    assert response.status_code == 202
    assert Call.objects.get(call_connection_id=call_id).status == "connected"
    assert _events(call_id)[-1] == "CallTransferFailed"
    outcome = transfer_outcome(
        call_connection_id=call_id, operation_context=response.json()["operation_context"]
    )
    assert outcome.state == "failed"
    assert outcome.message == "The transfer target did not answer."


def test_a_warm_transfer_adds_the_person_tells_them_and_leaves(staff_client, live_acs, fake_acs):
    call_id = _connected_call(staff_client, fake_acs)
    summary = "Caller verified, reports a stolen card, wants it blocked."

    response = _transfer(staff_client, call_id, target=PERSON, mode="warm", summary=summary)

    assert response.status_code == 202, response.content
    (add,) = requests_to(fake_acs, "POST", "/participants:add")
    assert add.body["participantToAdd"]["phoneNumber"] == {"value": PERSON}
    # AddParticipantSucceeded → the summary played to the person alone → PlayCompleted →
    # the app leaves its own leg: the caller and the person stay on the call.
    fake_acs.flush()

    (play,) = requests_to(fake_acs, "POST", ":play")
    assert play.body["playSources"][0]["text"]["text"] == summary
    assert [p["rawId"] for p in play.body["playTo"]] == [f"4:{PERSON}"]
    (leave,) = requests_to(fake_acs, "DELETE", f"/calling/callConnections/{call_id}")
    assert fake_acs.requests.index(leave) > fake_acs.requests.index(play)
    assert requests_to(fake_acs, "POST", ":terminate") == []
    fake_call = fake_acs.get_call(call_id)
    assert fake_call.app_left is True
    assert [p["identifier"]["rawId"] for p in fake_call.added_participants] == [f"4:{PERSON}"]
    assert _events(call_id)[-6:] == [
        "TransferRequested",
        "AddParticipantSucceeded",
        "ParticipantsUpdated",
        "PlayStarted",
        "PlayCompleted",
        "CallDisconnected",
    ]
    outcome = transfer_outcome(
        call_connection_id=call_id, operation_context=response.json()["operation_context"]
    )
    assert outcome.state == "transferred"


def test_a_person_who_does_not_answer_a_warm_transfer_leaves_the_call_as_it_was(
    staff_client, live_acs, fake_acs
):
    call_id = _connected_call(staff_client, fake_acs)
    fake_acs.unreachable(PERSON)

    response = _transfer(staff_client, call_id, target=PERSON, mode="warm")
    fake_acs.flush()

    assert _events(call_id)[-1] == "AddParticipantFailed"
    assert requests_to(fake_acs, "POST", ":play") == []
    assert Call.objects.get(call_connection_id=call_id).status == "connected"
    outcome = transfer_outcome(
        call_connection_id=call_id, operation_context=response.json()["operation_context"]
    )
    assert outcome.state == "failed"


def test_transfer_requests_are_checked(staff_client, auth_client, api_client, live_acs, fake_acs):
    call_id = _connected_call(staff_client, fake_acs)
    assert api_client.post("/api/v1/calls/transfer", {}, format="json").status_code == 401
    assert _transfer(auth_client, call_id, target=PERSON).status_code == 403
    assert _transfer(staff_client, "no-such-call", target=PERSON).status_code == 404
    assert _transfer(staff_client, call_id, target="someone").status_code == 400
    assert _transfer(staff_client, call_id, target=PERSON, mode="lukewarm").status_code == 400
    assert _transfer(staff_client, call_id).status_code == 400  # no HUMAN_TRANSFER_TARGET
    fake_acs.fail_next("transfer", status=403, code="8527", message="Transfer not allowed.")
    refused = _transfer(staff_client, call_id, target=PERSON)
    assert refused.status_code == 502 and "Transfer not allowed" in refused.json()["detail"]
    assert _events(call_id)[-1] == "TransferFailed"
    staff_client.post("/api/v1/calls/terminate", {"call_id": call_id}, format="json")
    assert _transfer(staff_client, call_id, target=PERSON).status_code == 400  # ended
    assert len(requests_to(fake_acs, "POST", ":transferToParticipant")) == 1  # the refused one
