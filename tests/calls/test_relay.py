"""Callbacks reach the live pages: relayed on the channel layer to the session and dashboards."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from calls.relay import DASHBOARD_GROUP, session_group
from tests.calls.conftest import CALLBACK_SECRET
from tests.calls.factories import cloud_event, make_call

SESSION_ID = "session_1732240000000_k3x9qz"


class GroupWatcher(AsyncJsonWebsocketConsumer):
    """A page's view of the relay: joins one group and forwards its envelopes."""

    async def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def relay_envelope(self, message):
        await self.send_json(message["envelope"])


async def _watch(group: str) -> WebsocketCommunicator:
    from channels.routing import URLRouter
    from django.urls import path

    app = URLRouter([path("watch/<str:group>", GroupWatcher.as_asgi())])
    communicator = WebsocketCommunicator(app, f"watch/{group}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _relay_roundtrip():
    call = await database_sync_to_async(make_call)(status="ringing", session_id=SESSION_ID)
    session_watcher = await _watch(session_group(SESSION_ID))
    dashboard = await _watch(DASHBOARD_GROUP)
    other_session = await _watch(session_group("session_other"))
    client = APIClient()

    response = await sync_to_async(client.post)(
        f"/api/v1/calls/callbacks?token={CALLBACK_SECRET}",
        [cloud_event(call, "CallConnected")],
        format="json",
    )

    assert response.status_code == 200
    envelope = await session_watcher.receive_json_from(timeout=5)
    assert envelope["type"] == "event" and envelope["topic"] == "call"
    assert envelope["session_id"] == SESSION_ID
    assert envelope["call_id"] == call.call_connection_id
    assert envelope["sender"] == "System" and envelope["ts"]
    assert envelope["payload"]["event_type"] == "call_connected"
    assert envelope["payload"]["status"] == "connected"
    assert await dashboard.receive_json_from(timeout=5) == envelope
    assert await other_session.receive_nothing(timeout=0.2)

    for communicator in (session_watcher, dashboard, other_session):
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_call_events_are_relayed_to_the_session_and_the_dashboards(acs_settings):
    await _relay_roundtrip()


@pytest.mark.django_db(transaction=True)
async def test_relay_crosses_processes_through_redis(acs_settings, redis_url):
    acs_settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "test-calls-relay"},
        }
    }
    await asyncio.wait_for(_relay_roundtrip(), timeout=20)


@pytest.mark.django_db(transaction=True)
async def test_duplicate_callbacks_are_not_relayed_twice(acs_settings):
    call = await database_sync_to_async(make_call)(status="ringing", session_id=SESSION_ID)
    watcher = await _watch(session_group(SESSION_ID))
    event = cloud_event(call, "CallConnected")
    client = APIClient()
    url = f"/api/v1/calls/callbacks?token={CALLBACK_SECRET}"

    await sync_to_async(client.post)(url, [event], format="json")
    await sync_to_async(client.post)(url, [event], format="json")

    assert (await watcher.receive_json_from(timeout=5))["payload"]["event_type"] == "call_connected"
    assert await watcher.receive_nothing(timeout=0.3)
    await watcher.disconnect()


def test_group_names_are_always_valid_for_the_channel_layer():
    assert session_group("abc-123_x.y") == "session.abc-123_x.y"
    assert session_group("a b/c:d") == "session.a_b_c_d"
    assert len(session_group("x" * 500)) < 100
