"""Incoming calls: Event Grid validation, IncomingCall answered with media streaming."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from calls.auth import event_grid_webhook_url
from calls.models import Call, CallEvent
from testing.fake_acs import EventGridFake
from testing.fake_acs.events import subscription_validation_event
from tests.calls.conftest import CALLBACK_SECRET, requests_to

CALLER, ACS_NUMBER = "+14255550177", "+14255550100"


def test_event_grid_subscription_validation_echoes_the_code(live_acs, fake_acs):
    event_grid = EventGridFake(event_grid_webhook_url())

    delivery = event_grid.validate("512d38b6-c7b8-40c8-89fe-f46f9e9622b6")

    assert delivery.status == 200
    assert delivery.response == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert event_grid.validation_succeeded(delivery)


def test_event_grid_webhook_needs_the_secret(live_acs, fake_acs):
    for url in (
        live_acs.BASE_URL + "/api/v1/calls/answer",
        live_acs.BASE_URL + "/api/v1/calls/answer?token=guess",
    ):
        delivery = EventGridFake(url).validate()
        assert delivery.status == 401
        assert delivery.response["error"] == "authentication_failed"
        assert "token" in delivery.response["detail"]


def test_incoming_call_is_answered_with_media_streaming(live_acs, fake_acs, media_streams):
    invite = fake_acs.ring(from_number=CALLER, to_number=ACS_NUMBER, caller_display_name="Ada")

    delivery = EventGridFake(event_grid_webhook_url()).deliver([invite.event])

    assert delivery.status == 200, delivery.response
    assert delivery.response["status"] == "call answered"
    assert delivery.response["caller_id"] == CALLER
    call_connection_id = delivery.response["call_connection_id"]
    # The fake ACS got an answer request for this very invite, with media streaming to us.
    (answer,) = requests_to(fake_acs, "POST", "/calling/callConnections:answer")
    assert answer.body["incomingCallContext"] == invite.incoming_call_context
    media = answer.body["mediaStreamingOptions"]
    assert media["transportType"] == "websocket"
    assert media["contentType"] == "audio"
    assert media["startMediaStreaming"] is True
    assert media["enableBidirectional"] is True
    assert media["audioFormat"] == "pcm16KMono"
    transport = urlsplit(media["transportUrl"])
    assert f"{transport.netloc}{transport.path}" == (
        urlsplit(live_acs.BASE_URL).netloc + "/api/v1/media/stream"
    )
    assert parse_qs(transport.query)["token"] == [CALLBACK_SECRET]
    assert fake_acs.get_call(call_connection_id).state == "connected"

    fake_acs.flush()

    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.direction == "inbound" and call.status == "connected"
    assert call.from_number == CALLER and call.to_number == ACS_NUMBER
    assert call.caller_display_name == "Ada"
    assert call.server_call_id == invite.server_call_id
    assert call.correlation_id == invite.correlation_id
    assert call.session_id == call_connection_id
    assert set(call.events.values_list("event_type", flat=True)) == {
        "Microsoft.Communication.IncomingCall",
        "Microsoft.Communication.CallConnected",
        "Microsoft.Communication.ParticipantsUpdated",
        "Microsoft.Communication.MediaStreamingStarted",
    }
    (stream,) = media_streams
    assert stream.kind == "media" and stream.url == media["transportUrl"]
    assert stream.headers["x-ms-call-correlation-id"] == invite.correlation_id


def test_voice_live_inbound_calls_stream_24khz(live_acs, fake_acs, media_streams):
    live_acs.ACS_STREAMING_MODE = "voice_live"
    invite = fake_acs.ring(from_number=CALLER, to_number=ACS_NUMBER)

    EventGridFake(event_grid_webhook_url()).deliver([invite.event])
    fake_acs.flush()

    (answer,) = requests_to(fake_acs, "POST", "/calling/callConnections:answer")
    assert answer.body["mediaStreamingOptions"]["audioFormat"] == "pcm24KMono"
    assert media_streams[0].sample_rate_hz == 24000
    assert Call.objects.get().streaming_mode == "voice_live"


def test_redelivered_incoming_call_is_answered_once(auth_client, acs_settings, fake_acs):
    invite = fake_acs.ring(from_number=CALLER, to_number=ACS_NUMBER)
    url = "/api/v1/calls/answer?token=" + CALLBACK_SECRET

    first = auth_client.post(url, [invite.event], format="json")
    again = auth_client.post(url, [invite.event], format="json")

    assert first.status_code == again.status_code == 200
    assert first.json()["call_connection_id"] == again.json()["call_connection_id"]
    assert len(requests_to(fake_acs, "POST", "/calling/callConnections:answer")) == 1
    assert Call.objects.count() == 1
    assert CallEvent.objects.filter(event_type__endswith="IncomingCall").count() == 1


def test_incoming_call_with_a_stale_context_fails_clearly(api_client, acs_settings, fake_acs, db):
    invite = fake_acs.ring(from_number=CALLER, to_number=ACS_NUMBER)
    fake_acs.invites.clear()  # someone else answered it

    response = api_client.post(
        "/api/v1/calls/answer?token=" + CALLBACK_SECRET, [invite.event], format="json"
    )

    assert response.status_code == 502
    assert response.json()["error"] == "acs_request_failed"
    assert Call.objects.get().status == "failed"


def test_event_grid_bad_input(api_client, acs_settings, fake_acs, db):
    url = "/api/v1/calls/answer?token=" + CALLBACK_SECRET
    malformed = api_client.post(url, "[{not json", content_type="application/json")
    not_events = api_client.post(url, "42", content_type="application/json")
    no_code = subscription_validation_event()
    no_code["data"] = {}
    missing_code = api_client.post(url, [no_code], format="json")
    other = api_client.post(
        url,
        [{"id": "1", "eventType": "Microsoft.Communication.CallEnded", "data": {}}],
        format="json",
    )
    incoming_without_context = api_client.post(
        url,
        [{"id": "2", "eventType": "Microsoft.Communication.IncomingCall", "data": {}}],
        format="json",
    )

    assert malformed.status_code == 400 and malformed.json()["error"] == "parse_error"
    assert not_events.status_code == 400
    assert missing_code.status_code == 400
    assert other.status_code == 200 and other.json() == {"status": "no events processed"}
    assert incoming_without_context.status_code == 400
    assert fake_acs.requests == []
