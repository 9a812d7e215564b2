"""Call recording through the real SDK against the fake ACS: started when a call that asked for
it connects, tracked from `RecordingStateChanged`, stopped at hang-up, failures kept as events."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from calls.auth import event_grid_webhook_url
from calls.checks import acs_settings_check
from calls.models import Call
from testing.fake_acs import EventGridFake
from tests.calls.conftest import CALLBACK_SECRET, requests_to
from tests.calls.factories import cloud_event, make_call
from voiceproject.celery import app as celery_app

TARGET = "+14255550123"
CALLBACKS = "/api/v1/calls/callbacks"
CONTAINER_URL = "https://callrecords.blob.core.windows.net/recordings"


@pytest.fixture(autouse=True)
def eager_celery():
    """The recording start is a Celery task: run it in-process (also when REDIS_URL is set)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def _dial(client, **body) -> Call:
    response = client.post(
        "/api/v1/calls/initiate", {"target_number": TARGET, **body}, format="json"
    )
    assert response.status_code == 200, response.json()
    return Call.objects.get(call_connection_id=response.json()["call_id"])


def _terminate(client, call: Call):
    response = client.post(
        "/api/v1/calls/terminate", {"call_id": call.call_connection_id}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response


def _event_types(call: Call) -> list[str]:
    return [e.short_type for e in call.events.all()]


def _listed(client, call: Call) -> dict:
    rows = client.get("/api/v1/calls/").json()["calls"]
    return next(row for row in rows if row["call_connection_id"] == call.call_connection_id)


def test_recorded_call_starts_recording_when_connected_and_stops_at_hang_up(
    auth_client, live_acs, fake_acs
):
    call = _dial(auth_client, record_call=True)
    assert requests_to(fake_acs, "POST", "/calling/recordings") == []  # not before it connects

    deliveries = fake_acs.flush()

    assert all(d.status == 200 for d in deliveries)
    (start,) = requests_to(fake_acs, "POST", "/calling/recordings")
    call.refresh_from_db()
    assert call.status == "connected"
    assert start.body["callLocator"] == {
        "kind": "serverCallLocator",
        "serverCallId": call.server_call_id,
    }
    assert start.body["recordingContentType"] == "audio"
    assert start.body["recordingChannelType"] == "unmixed"
    assert start.body["recordingFormatType"] == "wav"
    assert "externalStorage" not in start.body  # ACS's own storage without a container
    state_callback = urlsplit(start.body["recordingStateCallbackUri"])
    assert state_callback.path == "/api/v1/calls/callbacks"
    assert parse_qs(state_callback.query)["token"] == [CALLBACK_SECRET]
    (recording,) = fake_acs.recordings.values()
    assert recording.call_connection_id == call.call_connection_id
    # ACS's RecordingStateChanged(active) came back through the callbacks and was stored.
    assert call.recording_id == recording.recording_id
    assert call.recording_state == "active"
    assert "RecordingStateChanged" in _event_types(call)
    listed = _listed(auth_client, call)
    assert listed["recording_id"] == recording.recording_id
    assert listed["recording_state"] == "active"
    assert listed["record_call"] is True

    _terminate(auth_client, call)

    stop = requests_to(fake_acs, "DELETE", f"/calling/recordings/{recording.recording_id}")
    assert len(stop) == 1
    paths = [r.path for r in fake_acs.requests]
    assert paths.index(stop[0].path) < paths.index(
        f"/calling/callConnections/{call.call_connection_id}:terminate"
    )
    assert recording.stopped and recording.state == "inactive"
    call.refresh_from_db()
    assert call.status == "disconnected" and call.recording_state == "inactive"

    fake_acs.flush()

    call.refresh_from_db()
    changes = [
        e.payload["state"] for e in call.events.all() if e.short_type == "RecordingStateChanged"
    ]
    assert changes == ["active", "inactive"]
    assert call.recording_state == "inactive"


def test_call_without_the_flag_is_never_recorded(auth_client, live_acs, fake_acs):
    call = _dial(auth_client)
    fake_acs.flush()
    _terminate(auth_client, call)
    fake_acs.flush()

    assert [r for r in fake_acs.requests if "/calling/recordings" in r.path] == []
    assert fake_acs.recordings == {}
    call.refresh_from_db()
    assert call.status == "disconnected"
    assert call.recording_id == "" and call.recording_state == ""
    assert _listed(auth_client, call)["recording_state"] == ""


def test_recording_goes_to_the_configured_blob_container(auth_client, live_acs, fake_acs):
    live_acs.ACS_RECORDING_CONTAINER_URL = CONTAINER_URL
    call = _dial(auth_client, context={"record_call": True})

    fake_acs.flush()

    (start,) = requests_to(fake_acs, "POST", "/calling/recordings")
    assert start.body["externalStorage"] == {
        "recordingStorageKind": "azureBlobStorage",
        "recordingDestinationContainerUrl": CONTAINER_URL,
    }
    call.refresh_from_db()
    assert call.recording_state == "active"


def test_acs_refusing_the_recording_is_an_event_and_the_call_goes_on(
    auth_client, live_acs, fake_acs
):
    fake_acs.fail_next(
        "start_recording", status=403, code="8527", message="Recording is not enabled."
    )
    call = _dial(auth_client, record_call=True)

    deliveries = fake_acs.flush()

    assert [d.status for d in deliveries] == [200]  # the CallConnected callback succeeded
    call.refresh_from_db()
    assert call.status == "connected"
    assert call.recording_state == "failed" and call.recording_id == ""
    failed = call.events.get(event_type="Microsoft.Communication.StartRecordingFailed")
    assert failed.source == "app"
    assert failed.payload["resultInformation"]["code"] == 403
    assert "Recording is not enabled" in failed.payload["resultInformation"]["message"]
    assert fake_acs.get_call(call.call_connection_id).state == "connected"
    assert _listed(auth_client, call)["recording_state"] == "failed"

    _terminate(auth_client, call)

    assert requests_to(fake_acs, "DELETE", "") == []  # nothing to stop
    call.refresh_from_db()
    assert call.status == "disconnected" and call.recording_state == "failed"


def test_start_recording_failed_callback_is_stored_with_its_reason(auth_client, live_acs, fake_acs):
    fake_acs.fail_next_recording("Cannot write to the recording container.")
    call = _dial(auth_client, record_call=True)

    fake_acs.flush()

    call.refresh_from_db()
    assert call.status == "connected"
    assert call.recording_state == "failed"
    (recording,) = fake_acs.recordings.values()
    assert call.recording_id == recording.recording_id
    failed = call.events.get(event_type="Microsoft.Communication.StartRecordingFailed")
    assert failed.source == "callback"
    assert failed.payload["recordingId"] == recording.recording_id
    assert failed.payload["resultInformation"]["message"] == (
        "Cannot write to the recording container."
    )


def test_recording_ends_with_the_call_when_the_caller_hangs_up(auth_client, live_acs, fake_acs):
    call = _dial(auth_client, record_call=True)
    fake_acs.flush()

    fake_acs.hang_up_from_caller(call.call_connection_id)
    fake_acs.flush()

    call.refresh_from_db()
    assert call.status == "disconnected"
    # The state change reported with the hang-up still applies to the ended call.
    assert call.recording_state == "inactive"
    assert _event_types(call)[-2:] == ["CallDisconnected", "RecordingStateChanged"]
    _terminate(auth_client, call)
    assert requests_to(fake_acs, "DELETE", "") == []


def test_a_failed_stop_does_not_keep_the_call_up(auth_client, live_acs, fake_acs):
    call = _dial(auth_client, record_call=True)
    fake_acs.flush()
    fake_acs.fail_next("stop_recording", status=400, code="8501", message="Not in a valid state.")

    response = _terminate(auth_client, call)

    assert response.json()["status"] == "terminated"
    assert fake_acs.get_call(call.call_connection_id).state == "disconnected"
    call.refresh_from_db()
    assert call.status == "disconnected"
    # Not confirmed stopped by the request; ACS's own callback tells when it ended.
    assert call.recording_state == "active"
    fake_acs.flush()
    call.refresh_from_db()
    assert call.recording_state == "inactive"


def test_inbound_call_answered_with_the_record_preference_is_recorded(live_acs, fake_acs):
    invite = fake_acs.ring(from_number="+14255550177", to_number="+14255550100")

    delivery = EventGridFake(event_grid_webhook_url() + "&record_call=true").deliver([invite.event])

    assert delivery.status == 200, delivery.response
    assert delivery.response["recording_enabled"] is True
    fake_acs.flush()
    call = Call.objects.get(call_connection_id=delivery.response["call_connection_id"])
    (start,) = requests_to(fake_acs, "POST", "/calling/recordings")
    assert start.body["callLocator"]["serverCallId"] == invite.server_call_id == call.server_call_id
    assert call.recording_state == "active"


def test_recording_events_without_a_call_connection_id_find_the_recorded_call(
    api_client, acs_settings, db
):
    """Events sent to the recording state callback URL may name only the server call."""
    call = make_call(server_call_id="scid-recorded", record_call=True)
    other = make_call(server_call_id="scid-other", record_call=True)
    event = cloud_event(call, "RecordingStateChanged", recordingId="rec-1", state="active")
    del event["data"]["callConnectionId"]

    response = api_client.post(f"{CALLBACKS}?token={CALLBACK_SECRET}", [event], format="json")

    assert response.status_code == 200, response.json()
    call.refresh_from_db()
    assert call.recording_id == "rec-1" and call.recording_state == "active"
    later = cloud_event(call, "RecordingStateChanged", recordingId="rec-1", state="inactive")
    later["data"] = {"recordingId": "rec-1", "state": "inactive"}  # the recording id alone
    assert (
        api_client.post(f"{CALLBACKS}?token={CALLBACK_SECRET}", [later], format="json").status_code
        == 200
    )
    call.refresh_from_db()
    other.refresh_from_db()
    assert call.recording_state == "inactive"
    assert other.recording_id == "" and other.recording_state == ""


def test_recording_container_must_be_https(settings):
    settings.ACS_JWKS_URL = settings.ACS_JWT_AUDIENCE = ""
    settings.BASE_URL = "https://voice.example.com"
    settings.ACS_RECORDING_CONTAINER_URL = "http://callrecords.blob.core.windows.net/recordings"

    assert [p.id for p in acs_settings_check()] == ["calls.E003"]

    settings.ACS_RECORDING_CONTAINER_URL = CONTAINER_URL
    assert acs_settings_check() == []
