"""Scripts sign in on the sockets with their API token (`Authorization: Token <key>`)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

RELAY = "/api/v1/browser/dashboard/relay"


async def first_message(authorization: bytes | None) -> dict:
    headers = [(b"host", b"localhost"), (b"origin", b"http://localhost")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    communicator = WebsocketCommunicator(application, RELAY, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    message = json.loads((await communicator.receive_output(timeout=2))["text"])
    await communicator.disconnect()
    return message


async def test_a_staff_token_watches_every_session(staff_user):
    token = await sync_to_async(Token.objects.create)(user=staff_user)
    hello = await first_message(f"Token {token.key}".encode())
    assert hello["payload"]["event"] == "relay_connected"


@pytest.mark.parametrize("authorization", [None, b"Token not-a-token", b"Bearer abc"])
async def test_without_a_valid_token_the_socket_is_anonymous(authorization):
    refusal = await first_message(authorization)
    assert refusal["type"] == "error" and refusal["payload"]["close_code"] == 4401
