"""Call Automation callbacks: authentication, state, storage and deduplication."""

from __future__ import annotations

import time

import pytest

from calls.models import Call, CallEvent
from testing.fake_acs import AcsJwtSigner
from tests.calls.conftest import CALLBACK_SECRET
from tests.calls.factories import cloud_event, make_call

URL = "/api/v1/calls/callbacks"
AUDIENCE = (
    "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs"
)


def _post(client, events, *, token=CALLBACK_SECRET, **headers):
    url = f"{URL}?token={token}" if token else URL
    return client.post(url, events, format="json", **headers)


# --- shared secret ---------------------------------------------------------------------------


def test_callback_with_the_secret_moves_the_call_and_is_stored(api_client, acs_settings, db):
    call = make_call(status="ringing")

    response = _post(api_client, [cloud_event(call, "CallConnected")])

    assert response.status_code == 200
    assert response.json()["processed_events"] == 1
    assert response.json()["call_connection_id"] == call.call_connection_id
    call.refresh_from_db()
    assert call.status == "connected"
    assert call.events.get().event_type == "Microsoft.Communication.CallConnected"


@pytest.mark.parametrize("token", [None, "", "wrong-secret"])
def test_callback_without_the_secret_is_401_with_a_reason(api_client, acs_settings, db, token):
    call = make_call(status="ringing")

    response = _post(api_client, [cloud_event(call, "CallConnected")], token=token)

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"
    assert "token" in response.json()["detail"]
    call.refresh_from_db()
    assert call.status == "ringing" and not CallEvent.objects.exists()


def test_secret_derived_from_secret_key_when_none_is_configured(settings, api_client, db):
    from calls.auth import callback_secret, callback_url

    settings.ACS_CALLBACK_SECRET = ""
    settings.ACS_JWKS_URL = settings.ACS_JWT_AUDIENCE = ""
    call = make_call(status="ringing")

    assert callback_secret() and callback_secret() in callback_url()
    assert _post(api_client, [cloud_event(call, "CallConnected")], token="").status_code == 401
    ok = _post(api_client, [cloud_event(call, "CallConnected")], token=callback_secret())
    assert ok.status_code == 200


# --- ACS-signed JWT --------------------------------------------------------------------------


@pytest.fixture
def signer() -> AcsJwtSigner:
    return AcsJwtSigner(audience=AUDIENCE)


@pytest.fixture
def jwt_settings(acs_settings, fake_acs, signer):
    """JWT verification against the keys the fake ACS publishes at /calling/keys."""
    fake_acs.jwt_signer = signer
    acs_settings.ACS_JWKS_URL = fake_acs.jwks_url
    acs_settings.ACS_JWT_AUDIENCE = AUDIENCE
    return acs_settings


def test_callbacks_signed_by_acs_are_accepted(live_acs, jwt_settings, fake_acs, auth_client):
    """The whole path: the fake signs its callbacks, the app fetches its keys and verifies."""
    response = auth_client.post(
        "/api/v1/calls/initiate", {"target_number": "+14255550123"}, format="json"
    )
    deliveries = fake_acs.flush()

    assert [d.status for d in deliveries] == [200]
    assert Call.objects.get(call_connection_id=response.json()["call_id"]).status == "connected"


def _bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda s: AcsJwtSigner(audience=AUDIENCE, kid=s.kid).token(), "signature"),
        (lambda s: s.token(aud="another-resource"), "audience"),
        (lambda s: s.token(iss="https://evil.example"), "issuer"),
        (lambda s: s.token(exp=int(time.time()) - 60), "expired"),
        (lambda s: "not-a-jwt", "malformed"),
    ],
    ids=["other-key", "audience", "issuer", "expired", "garbage"],
)
def test_bad_acs_tokens_are_401_with_a_reason(
    api_client, jwt_settings, signer, db, make_token, reason
):
    call = make_call(status="ringing")

    response = _post(
        api_client, [cloud_event(call, "CallConnected")], **_bearer(make_token(signer))
    )

    assert response.status_code == 401
    assert reason in response.json()["detail"]
    call.refresh_from_db()
    assert call.status == "ringing"


def test_jwt_mode_does_not_accept_the_url_secret_alone(api_client, jwt_settings, db):
    call = make_call(status="ringing")

    response = _post(api_client, [cloud_event(call, "CallConnected")])

    assert response.status_code == 401
    assert "bearer" in response.json()["detail"]


def test_valid_acs_token_is_accepted(api_client, jwt_settings, signer, db):
    call = make_call(status="ringing")

    response = _post(
        api_client, [cloud_event(call, "CallConnected")], token=None, **_bearer(signer.token())
    )

    assert response.status_code == 200


# --- state, storage, deduplication -----------------------------------------------------------


def test_redelivered_events_change_nothing(api_client, acs_settings, db):
    call = make_call(status="connected")
    hung_up = cloud_event(call, "CallDisconnected", resultInformation={"message": "bye"})
    first = _post(api_client, [hung_up])
    ended_at = Call.objects.get().ended_at

    again = _post(api_client, [hung_up, hung_up])

    assert first.json()["processed_events"] == 1
    assert again.status_code == 200
    assert again.json()["processed_events"] == 0
    assert again.json()["duplicate_events"] == 2
    assert CallEvent.objects.count() == 1
    call.refresh_from_db()
    assert call.status == "disconnected" and call.ended_at == ended_at
    assert call.disconnect_reason == "bye"


def test_a_late_event_never_revives_an_ended_call(api_client, acs_settings, db):
    call = make_call(status="connected")

    _post(api_client, [cloud_event(call, "CallDisconnected"), cloud_event(call, "CallConnected")])

    call.refresh_from_db()
    assert call.status == "disconnected"
    assert call.events.count() == 2


def test_hold_and_unhold_follow_participants_updates(api_client, acs_settings, db):
    call = make_call(status="connected")
    caller = {"rawId": "4:+14255550177", "phoneNumber": {"value": "+14255550177"}}

    def participants(on_hold: bool) -> dict:
        return cloud_event(
            call,
            "ParticipantsUpdated",
            participants=[{"identifier": caller, "isMuted": False, "isOnHold": on_hold}],
        )

    _post(api_client, [participants(True)])
    held = Call.objects.get().status
    _post(api_client, [participants(False)])

    assert held == "on_hold"
    assert Call.objects.get().status == "connected"


def test_create_call_failed_marks_the_call_failed(api_client, acs_settings, db):
    call = make_call(status="ringing")

    _post(
        api_client,
        [cloud_event(call, "CreateCallFailed", resultInformation={"code": 400, "message": "busy"})],
    )

    call.refresh_from_db()
    assert call.status == "failed" and call.disconnect_reason == "busy"


def test_single_event_object_is_accepted(api_client, acs_settings, db):
    call = make_call(status="ringing")

    response = _post(api_client, cloud_event(call, "CallConnected"))

    assert response.status_code == 200 and response.json()["processed_events"] == 1


def test_bad_callback_bodies_are_rejected_clearly(api_client, acs_settings, db):
    call = make_call(status="ringing")
    url = f"{URL}?token={CALLBACK_SECRET}"

    malformed = api_client.post(url, "[{", content_type="application/json")
    scalar = api_client.post(url, "true", content_type="application/json")
    no_ids = _post(api_client, [{"type": "Microsoft.Communication.CallConnected", "data": {}}])
    known = _post(api_client, [cloud_event(call, "CallConnected")])
    Call.objects.filter(pk=call.pk).delete()
    for_unknown_call = _post(api_client, [cloud_event(call, "CallConnected")])

    assert malformed.status_code == 400 and malformed.json()["error"] == "parse_error"
    assert scalar.status_code == 400
    assert no_ids.status_code == 400
    assert known.status_code == 200
    assert for_unknown_call.status_code == 404
    assert for_unknown_call.json()["error"] == "unknown_call"


def test_mixed_batch_reports_each_kind(api_client, acs_settings, db):
    call = make_call(status="ringing")
    known = cloud_event(call, "CallConnected")
    stranger = cloud_event(call, "CallConnected")
    stranger["data"]["callConnectionId"] = "not-ours"

    body = _post(api_client, [known, stranger, {"id": "x"}]).json()

    assert body["processed_events"] == 1
    assert body["unknown_call_events"] == 1
    assert body["failed_events"] == 2
