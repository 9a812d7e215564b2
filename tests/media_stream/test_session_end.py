"""`DELETE /api/v1/sessions/{id}` ends a live phone conversation on the ACS media socket."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agentbuilder.services import library_load
from metrics.models import ConversationSession
from testing.acs_stream_client import AcsMediaStreamClient, CommunicatorTransport
from tests.media_stream.media import (
    SECRET,
    drain_metrics,  # noqa: F401 - fixture
    eventually,
    fake_speech_providers,
    make_call,
    stream_path,
)
from voiceproject.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drain_metrics")]


def _delete(user, path: str):
    """In a thread of its own, as Django's ASGI handler runs each sync view."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client.delete(path)


async def test_delete_ends_the_phone_conversation_and_closes_the_media_socket(settings, staff_user):
    settings.ACS_CALLBACK_SECRET = SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.ACS_CONNECTION_STRING = ""
    settings.ACS_ENDPOINT = ""
    fake_speech_providers(settings, ms_per_char=3)
    await database_sync_to_async(library_load)()
    await make_call("media-end-1", streaming_mode="media", session_id="sess-media-end-1")
    from channels.testing import WebsocketCommunicator

    communicator = WebsocketCommunicator(application, stream_path("media-end-1"))
    connected, _ = await communicator.connect()
    assert connected
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "media-end-1", 16000)
    await client.start()
    await client.wait_for_agent_audio()  # the greeting: the conversation is live

    response = await sync_to_async(_delete, thread_sensitive=False)(
        staff_user, "/api/v1/sessions/sess-media-end-1"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["was_live"] is True and body["status"] == "completed"
    # No ACS here to hang up through: said, and the session is ended all the same.
    assert body["call_hung_up"] is False and "ACS_CONNECTION_STRING" in body["call_error"]
    await client.wait_closed()
    assert client.close_code == 1000
    session = await ConversationSession.objects.aget(session_id="sess-media-end-1")
    assert session.status == "completed" and session.transport == "acs"


async def test_a_consumer_cancelled_mid_conversation_gives_its_synthesizer_back(
    settings, fresh_tts_pool
):
    """The server cancels a consumer that does not end within its close timeout (daphne
    kills its application instance): the TTS lease, the live stream and the session end all
    the same."""
    from channels.testing import WebsocketCommunicator
    from django.test import AsyncClient

    settings.ACS_CALLBACK_SECRET = SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.REALTIME_SPEECH_PROVIDER = None
    fake_speech_providers(settings, ms_per_char=3)
    await database_sync_to_async(library_load)()
    await make_call("media-kill-1", streaming_mode="media", session_id="sess-media-kill-1")
    http = AsyncClient()
    communicator = WebsocketCommunicator(application, stream_path("media-kill-1"))
    connected, _ = await communicator.connect()
    assert connected
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "media-kill-1", 16000)
    await client.start()
    await client.wait_for_agent_audio()  # the greeting is being spoken
    pool = (await http.get("/api/v1/tts/dedicated/metrics")).json()
    assert pool["active_sessions"] == 1

    communicator.future.cancel()  # what daphne does to an application instance it kills
    with contextlib.suppress(asyncio.CancelledError):
        await communicator.future

    pool = (await http.get("/api/v1/tts/dedicated/metrics")).json()
    assert pool["active_sessions"] == 0 and pool["releases"] == 1
    media = (await http.get("/api/v1/media/status")).json()
    assert media["active_media_sessions"]["active"] == 0

    async def stored() -> bool:  # the writer stores the session's rows in a thread of its own
        session = await ConversationSession.objects.filter(session_id="sess-media-kill-1").afirst()
        return (
            session is not None and session.status == "completed" and session.ended_at is not None
        )

    await eventually(stored)
