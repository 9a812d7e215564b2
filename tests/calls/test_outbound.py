"""Dialling out through the real Call Automation SDK against the fake ACS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from calls.models import Call, CallEvent
from tests.calls.conftest import CALLBACK_SECRET, SOURCE_NUMBER, requests_to

TARGET = "+14255550123"


def _initiate(client, session_token: str = "", **body):
    headers = {"HTTP_X_SESSION_TOKEN": session_token} if session_token else {}
    return client.post(
        "/api/v1/calls/initiate", {"target_number": TARGET, **body}, format="json", **headers
    )


def test_outbound_call_is_created_then_connected_by_callbacks(
    auth_client, live_acs, fake_acs, media_streams
):
    response = _initiate(auth_client, context={"browser_session_id": "session_1_abcdef"})

    assert response.status_code == 200, response.json()
    out = response.json()
    call = Call.objects.get(call_connection_id=out["call_id"])
    assert out["status"] == "ringing" == call.status
    assert out["target_number"] == TARGET
    assert out["streaming_mode"] == "media"
    assert out["session_id"] == "session_1_abcdef" == call.session_id
    assert call.direction == "outbound" and call.from_number == SOURCE_NUMBER

    # What the SDK put on the wire.
    (create,) = requests_to(fake_acs, "POST", "/calling/callConnections")
    assert create.body["targets"][0]["phoneNumber"]["value"] == TARGET
    assert create.body["sourceCallerIdNumber"] == {"value": SOURCE_NUMBER}
    assert create.body["operationContext"] == str(call.id)
    callback = urlsplit(create.body["callbackUri"])
    assert f"{callback.scheme}://{callback.netloc}" == live_acs.BASE_URL
    assert callback.path == "/api/v1/calls/callbacks"
    assert parse_qs(callback.query)["token"] == [CALLBACK_SECRET]
    media = create.body["mediaStreamingOptions"]
    transport = urlsplit(media["transportUrl"])
    assert transport.scheme == "ws" and transport.path == "/api/v1/media/stream"
    assert parse_qs(transport.query)["token"] == [CALLBACK_SECRET]
    assert media["transportType"] == "websocket"
    assert media["audioFormat"] == "pcm16KMono"
    assert media["enableBidirectional"] is True
    assert media["startMediaStreaming"] is True
    assert "transcriptionOptions" not in create.body

    deliveries = fake_acs.flush()

    assert [d.status for d in deliveries] == [200]
    call.refresh_from_db()
    assert call.status == "connected" and call.connected_at is not None
    assert list(call.events.values_list("event_type", flat=True)) == [
        "Microsoft.Communication.CallConnected",
        "Microsoft.Communication.ParticipantsUpdated",
        "Microsoft.Communication.MediaStreamingStarted",
    ]
    (stream,) = media_streams
    assert stream.call_connection_id == call.call_connection_id
    assert stream.headers["x-ms-call-connection-id"] == call.call_connection_id
    assert stream.url == media["transportUrl"] and stream.sample_rate_hz == 16000


def test_voice_live_asks_for_24khz_audio(auth_client, acs_settings, fake_acs):
    response = _initiate(auth_client, streaming_mode="voice_live")

    assert response.status_code == 200
    (create,) = requests_to(fake_acs, "POST", "/calling/callConnections")
    assert create.body["mediaStreamingOptions"]["audioFormat"] == "pcm24KMono"
    assert create.body["mediaStreamingOptions"]["enableBidirectional"] is True
    assert Call.objects.get().streaming_mode == "voice_live"


def test_transcription_mode_sends_transcription_options(auth_client, acs_settings, fake_acs):
    acs_settings.ACS_COGNITIVE_SERVICES_ENDPOINT = (
        "https://speech.example.cognitiveservices.azure.com/"
    )
    response = _initiate(
        auth_client, context={"streaming_mode": "transcription", "record_call": True}
    )

    assert response.status_code == 200
    assert response.json()["details"]["recording_enabled"] is True
    (create,) = requests_to(fake_acs, "POST", "/calling/callConnections")
    transcription = create.body["transcriptionOptions"]
    assert transcription["locale"] == "en-US"
    assert transcription["startTranscription"] is True
    assert transcription["enableIntermediateResults"] is True
    assert urlsplit(transcription["transportUrl"]).path == "/api/v1/media/stream"
    assert create.body["callIntelligenceOptions"] == {
        "cognitiveServicesEndpoint": "https://speech.example.cognitiveservices.azure.com/"
    }
    # Nothing is spoken to the caller in transcription mode.
    assert create.body["mediaStreamingOptions"]["enableBidirectional"] is False


@pytest.mark.parametrize(
    "number", ["14255550123", "+0425555", "+1 425 555 0123", "", "+1234567890123456"]
)
def test_initiate_rejects_numbers_that_are_not_e164(auth_client, acs_settings, fake_acs, number):
    response = _initiate(auth_client, target_number=number)

    assert response.status_code == 400
    assert "target_number" in response.json()["fields"]
    assert fake_acs.requests == [] and not Call.objects.exists()


def test_initiate_rejects_unknown_streaming_mode(auth_client, acs_settings, fake_acs):
    response = _initiate(auth_client, streaming_mode="realtime")

    assert response.status_code == 400
    assert fake_acs.requests == []


def test_initiate_needs_authentication(api_client, acs_settings, fake_acs):
    response = _initiate(api_client)

    assert response.status_code == 401
    assert fake_acs.requests == []


def test_acs_refusal_is_a_502_and_the_call_is_stored_failed(auth_client, acs_settings, fake_acs):
    fake_acs.fail_next("create", status=403, code="8501", message="Source number not owned.")

    response = _initiate(auth_client)

    assert response.status_code == 502
    assert response.json()["error"] == "acs_request_failed"
    assert "Source number not owned" in response.json()["detail"]
    call = Call.objects.get()
    assert call.status == "failed" and "Source number not owned" in call.disconnect_reason


def test_wrong_access_key_is_refused_by_acs(auth_client, acs_settings, fake_acs):
    acs_settings.ACS_CONNECTION_STRING = (
        f"endpoint={fake_acs.endpoint}/;accesskey=d3Jvbmcta2V5LXdyb25nLWtleQ=="
    )

    response = _initiate(auth_client)

    assert response.status_code == 502
    assert "HMAC" in response.json()["detail"]


def test_initiate_without_acs_configuration_is_503(auth_client, acs_settings):
    acs_settings.ACS_CONNECTION_STRING = ""

    response = _initiate(auth_client)

    assert response.status_code == 503
    assert response.json()["error"] == "acs_not_configured"


def test_callback_arriving_before_the_create_response_finds_the_call(
    auth_client, live_acs, fake_acs
):
    """ACS may call back before create returns: the operation context identifies the call."""
    fake_acs.auto_answer_outbound = False
    response = _initiate(auth_client)
    call = Call.objects.get()
    # Simulate the race: forget the id ACS gave, as if the create response were still in flight.
    Call.objects.filter(pk=call.pk).update(call_connection_id="", session_id="")

    fake_acs.answer_outbound(response.json()["call_id"])
    fake_acs.flush()

    call.refresh_from_db()
    assert call.call_connection_id == response.json()["call_id"]
    assert call.session_id == call.call_connection_id
    assert call.status == "connected"
    assert CallEvent.objects.filter(call=call).count() == 3


def test_a_call_carries_on_only_a_browser_session_of_the_callers_own(
    auth_client, live_acs, fake_acs, media_streams
):
    """A visitor's session cannot be pulled into a call (its history would reach the callee)."""
    from browser.services import session_claim

    token = session_claim(session_id="session_visitor_2")
    refused = _initiate(auth_client, browser_session_id="session_visitor_2")
    assert refused.status_code == 403, refused.content
    assert "another visitor" in refused.json()["detail"]
    assert not Call.objects.exists()

    # The same browser, signed in since, proves it is the visitor's with the token.
    own = _initiate(auth_client, session_token=token, browser_session_id="session_visitor_2")
    assert own.status_code == 200, own.content
    assert own.json()["session_id"] == "session_visitor_2"
