"""The dashboard relay forwards what is broadcast for a session, to whom may see it."""

from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from browser.protocol import status_envelope
from metrics.models import ConversationSession
from tests.browser.conftest import open_socket
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _session(session_id: str, user=None) -> ConversationSession:
    now = timezone.now()
    return ConversationSession.objects.create(
        session_id=session_id,
        transport="browser",
        user=user,
        started_at=now,
        last_activity_at=now,
    )


async def _broadcast(group: str, envelope: dict) -> None:
    await get_channel_layer().group_send(group, {"type": "relay.envelope", "envelope": envelope})


async def _close_info(communicator: WebsocketCommunicator) -> dict:
    """The close, after the `error` message that says why (daphne drops close reasons)."""
    error = json.loads((await communicator.receive_output(timeout=2))["text"])
    message = await communicator.receive_output(timeout=2)
    assert message["type"] == "websocket.close", message
    assert error["type"] == "error" and error["payload"]["close_code"] == message["code"]
    assert error["payload"]["message"] == message["reason"]
    await communicator.disconnect(code=message.get("code", 1000))
    return message


async def test_owner_sees_their_session_live(user):
    await _session_async("relay-owner-1", user)
    socket = await open_socket(
        "/api/v1/browser/dashboard/relay?session_id=relay-owner-1", user=user
    )
    hello = await socket.receive_json_from(timeout=2)
    assert hello["type"] == "status" and hello["payload"]["event"] == "relay_connected"

    envelope = status_envelope(session_id="relay-owner-1", message="Agent ready")
    await _broadcast("session.relay-owner-1", envelope)
    assert await socket.receive_json_from(timeout=2) == json.loads(json.dumps(envelope))

    # Other sessions' traffic does not leak into this dashboard.
    await _broadcast("session.someone-else", status_envelope(session_id="x", message="no"))
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_staff_watches_all_sessions(staff_user):
    socket = await open_socket("/api/v1/browser/dashboard/relay", user=staff_user)
    await socket.receive_json_from(timeout=2)
    await _broadcast("dashboard.all", status_envelope(session_id="any", message="hello all"))
    received = await socket.receive_json_from(timeout=2)
    assert received["payload"]["message"] == "hello all"
    await socket.disconnect()


async def test_all_sessions_refused_to_non_staff_and_anonymous(user):
    socket = await open_socket("/api/v1/browser/dashboard/relay", user=user)
    closed = await _close_info(socket)
    assert closed["code"] == 4403 and "staff" in closed["reason"]

    socket = await open_socket("/api/v1/browser/dashboard/relay")
    closed = await _close_info(socket)
    assert closed["code"] == 4401


async def test_another_users_session_is_refused(user, django_user_model):
    other = await _create_user(django_user_model, "other")
    await _session_async("relay-private-1", other)
    socket = await open_socket(
        "/api/v1/browser/dashboard/relay?session_id=relay-private-1", user=user
    )
    closed = await _close_info(socket)
    assert closed["code"] == 4403


async def test_an_anonymous_session_is_watched_with_its_token_only(settings, user):
    from asgiref.sync import sync_to_async

    from browser.services import session_claim

    token = await sync_to_async(session_claim)(session_id="relay-anon-1")
    await _session_async("relay-anon-1", None)
    path = "/api/v1/browser/dashboard/relay?session_id=relay-anon-1"
    settings.BROWSER_ALLOW_ANONYMOUS = True
    socket = await open_socket(f"{path}&session_token={token}")
    assert (await socket.receive_json_from(timeout=2))["type"] == "status"
    await socket.disconnect()

    # Knowing the id is not enough, signed in or not.
    for query, who, code in [
        ("", None, 4401),
        ("&session_token=wrong", None, 4401),
        ("", user, 4403),
    ]:
        closed = await _close_info(await open_socket(path + query, user=who))
        assert closed["code"] == code

    settings.BROWSER_ALLOW_ANONYMOUS = False
    socket = await open_socket(f"{path}&session_token={token}")
    assert (await _close_info(socket))["code"] == 4401


async def test_a_session_nobody_has_started_is_watched_by_staff_only(user, staff_user):
    path = "/api/v1/browser/dashboard/relay?session_id=relay-future-1"
    assert (await _close_info(await open_socket(path, user=user)))["code"] == 4403
    socket = await open_socket(path, user=staff_user)
    assert (await socket.receive_json_from(timeout=2))["payload"]["event"] == "relay_connected"
    await socket.disconnect()


async def test_foreign_origin_is_refused(staff_user):
    communicator = WebsocketCommunicator(
        application,
        "/api/v1/browser/dashboard/relay",
        headers=[(b"origin", b"https://evil.example")],
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_malformed_session_id_and_client_chatter(staff_user):
    socket = await open_socket(
        "/api/v1/browser/dashboard/relay?session_id=bad%20id%3B", user=staff_user
    )
    closed = await _close_info(socket)
    assert closed["code"] == 4400

    socket = await open_socket("/api/v1/browser/dashboard/relay", user=staff_user)
    await socket.receive_json_from(timeout=2)
    await socket.send_to(text_data="not json at all")
    await socket.send_to(bytes_data=b"\x00\x01")
    await socket.send_to(text_data='{"type": "ping"}')
    assert await socket.receive_json_from(timeout=2) == {"type": "pong"}
    await socket.disconnect()


async def test_status_counts_live_dashboards(staff_user, api_client):
    from asgiref.sync import sync_to_async

    before = (await sync_to_async(api_client.get)("/api/v1/browser/status")).json()
    socket = await open_socket("/api/v1/browser/dashboard/relay", user=staff_user)
    await socket.receive_json_from(timeout=2)
    during = (await sync_to_async(api_client.get)("/api/v1/browser/status")).json()
    await socket.disconnect()
    after = (await sync_to_async(api_client.get)("/api/v1/browser/status")).json()

    assert during["status"] == "available"
    assert during["websocket_endpoints"]["conversation"] == "/api/v1/browser/conversation"
    dashboards = [
        body["active_connections"]["dashboard_clients"] for body in (before, during, after)
    ]
    assert dashboards[1] == dashboards[0] + 1 and dashboards[2] == dashboards[0]
    assert during["audio_sample_rate"] == 16000


async def _session_async(session_id, user):
    from asgiref.sync import sync_to_async

    return await sync_to_async(_session)(session_id, user)


async def _create_user(model, username):
    from asgiref.sync import sync_to_async

    return await sync_to_async(model.objects.create_user)(username=username, password="x-long-pass")


async def _phone_call(session_id: str, *, stored: bool) -> None:
    """A simulated call's record (`manage.py simulate_call`); `stored`: its session too."""
    from asgiref.sync import sync_to_async

    from calls.services import call_simulated_create

    await sync_to_async(call_simulated_create)(streaming_mode="media", session_id=session_id)
    if stored:
        now = timezone.now()
        await ConversationSession.objects.acreate(
            session_id=session_id,
            transport="acs",
            call_connection_id=session_id,
            started_at=now,
            last_activity_at=now,
        )


@pytest.mark.parametrize("stored", [True, False])
async def test_a_phone_call_is_watched_by_staff_only(settings, user, staff_user, stored):
    settings.BROWSER_ALLOW_ANONYMOUS = True  # anonymous browser sessions are open; calls are not
    await _phone_call("sim-2c4e8a10", stored=stored)
    path = "/api/v1/browser/dashboard/relay?session_id=sim-2c4e8a10"

    closed = await _close_info(await open_socket(path))
    assert closed["code"] == 4401 and "phone call" in closed["reason"]
    closed = await _close_info(await open_socket(path, user=user))
    assert closed["code"] == 4403 and "phone call" in closed["reason"]

    socket = await open_socket(path, user=staff_user)
    hello = await socket.receive_json_from(timeout=2)
    assert hello["payload"]["event"] == "relay_connected"
    await socket.disconnect()
