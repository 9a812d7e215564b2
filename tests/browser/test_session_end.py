"""`DELETE /api/v1/sessions/{id}` ends a live browser conversation on its socket."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metrics.models import ConversationSession, Turn
from metrics.services import flush
from tests.browser.test_conversation_socket import closed, connect, is_greeting

pytestmark = pytest.mark.django_db(transaction=True)


def _delete(user, path: str):
    """The request, in a thread of its own as Django's ASGI handler runs each sync view (the
    consumer's thread-sensitive work goes on meanwhile)."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    try:
        return client.delete(path)
    finally:
        connections.close_all()  # this thread's own, as Django closes it after a request


async def _talk(client) -> None:
    await client.until(is_greeting)
    await client.send(text_data="What can you help me with?")
    await client.until(lambda m: m.get("type") == "turn_metrics")


async def test_delete_ends_the_live_conversation_and_keeps_its_turns(fake_speech, user):
    client = await connect("?session_id=live-end-1", user=user)
    await _talk(client)

    response = await sync_to_async(_delete, thread_sensitive=False)(
        user, "/api/v1/sessions/live-end-1"
    )

    assert response.status_code == 200, response.content
    assert response.json()["was_live"] is True
    assert response.json()["status"] == "completed"
    output = await closed(client)
    assert output["code"] == 1000
    exit_message = next(m for m in client.messages if m.get("type") == "exit")
    assert exit_message["payload"]["reason"] == "ended through the sessions API"
    session = await ConversationSession.objects.aget(session_id="live-end-1")
    assert session.status == "completed" and session.ended_at is not None
    turns = [t async for t in Turn.objects.filter(session=session).order_by("index")]
    assert "What can you help me with?" in [t.user_text for t in turns]
    assert session.history  # the state a reconnect resumes was saved before the reply


async def test_delete_with_erase_leaves_nothing_of_a_live_conversation(fake_speech, user):
    client = await connect("?session_id=live-erase-1", user=user)
    await _talk(client)

    response = await sync_to_async(_delete, thread_sensitive=False)(
        user, "/api/v1/sessions/live-erase-1?erase=true"
    )

    assert response.status_code == 200, response.content
    assert response.json()["was_live"] is True and response.json()["erased"] is True
    assert (await closed(client))["code"] == 1000
    await asyncio.sleep(0.2)  # anything the closed socket might still write
    await flush()
    assert not await ConversationSession.objects.filter(session_id="live-erase-1").aexists()
    assert not await Turn.objects.filter(session__session_id="live-erase-1").aexists()


async def test_another_user_cannot_end_a_live_conversation(fake_speech, user, django_user_model):
    intruder = await django_user_model.objects.acreate(username="intruder")
    client = await connect("?session_id=live-kept-1", user=user)
    await client.until(is_greeting)

    response = await sync_to_async(_delete, thread_sensitive=False)(
        intruder, "/api/v1/sessions/live-kept-1"
    )

    assert response.status_code == 403
    await client.send(text_data="What can you help me with?")
    await client.until(lambda m: m.get("type") == "turn_metrics")  # still talking
    await client.close()


async def test_a_consumer_cancelled_mid_conversation_gives_its_synthesizer_back(
    fake_speech, user, fresh_tts_pool
):
    """The server cancels a consumer that does not end within its close timeout (daphne
    kills its application instance): the TTS lease, the live count and the session end all
    the same."""
    from django.test import AsyncClient

    http = AsyncClient()
    client = await connect("?session_id=live-kill-1", user=user)
    await client.until(is_greeting)
    pool = (await http.get("/api/v1/tts/dedicated/metrics")).json()
    assert pool["active_sessions"] == 1
    status = (await http.get("/api/v1/browser/status")).json()
    assert status["active_connections"]["conversation_sessions"] == 1

    client.communicator.future.cancel()  # what daphne does to an application instance it kills
    with contextlib.suppress(asyncio.CancelledError):
        await client.communicator.future

    pool = (await http.get("/api/v1/tts/dedicated/metrics")).json()
    assert pool["active_sessions"] == 0 and pool["releases"] == 1
    status = (await http.get("/api/v1/browser/status")).json()
    assert status["active_connections"]["conversation_sessions"] == 0
    for _ in range(250):
        session = await ConversationSession.objects.aget(session_id="live-kill-1")
        if session.ended_at is not None:
            break
        await asyncio.sleep(0.02)
    assert session.status == "completed" and session.ended_at is not None


async def test_a_delete_from_sync_code_with_no_server_loop_ends_the_live_conversation(
    fake_speech, user, redis_url
):
    """A WSGI server, Celery or a management command ends a conversation from a thread with no
    server loop: the request runs on a loop of its own while this process's consumers keep
    receiving on theirs, and both go on working."""
    client = await connect("?session_id=live-end-wsgi", user=user)
    bystander = await connect("?session_id=live-end-bystander", user=user)
    await _talk(client)
    await bystander.until(is_greeting)

    response = await asyncio.to_thread(_delete, user, "/api/v1/sessions/live-end-wsgi")

    assert response.status_code == 200, response.content
    assert response.json()["was_live"] is True
    assert (await closed(client))["code"] == 1000
    await bystander.send(text_data="What can you help me with?")
    await bystander.until(lambda m: m.get("type") == "turn_metrics")
    await bystander.close()
