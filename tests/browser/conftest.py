"""Helpers for talking to the browser sockets through the real ASGI router."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from agentbuilder.services.library import library_load
from voiceproject.asgi import application

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")  # the page's own origin: http://localhost


async def session_cookie(user) -> bytes:
    """The Cookie header of a browser signed in as `user`."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(path: str, *, user=None, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [HOST, origin] if origin else [HOST]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected, f"{path} refused the handshake"
    return communicator


@pytest.fixture
def fake_speech(settings):
    """Scripted speech, the rules engine, anonymous conversations, the shipped agents."""

    settings.SPEECH_PROVIDERS = {
        "stt": {
            "BACKEND": "media.providers.fakes.ScriptedSTT",
            "OPTIONS": {"script": ["what can you help me with"]},
        },
        "tts": {"BACKEND": "media.providers.fakes.FakeTTS", "OPTIONS": {"ms_per_char": 2}},
        "llm": {"BACKEND": "media.providers.rules.RulesDialogueEngine", "OPTIONS": {}},
        "vad": {"BACKEND": "media.providers.fakes.EnergyVAD", "OPTIONS": {}},
    }
    settings.BROWSER_ALLOW_ANONYMOUS = True
    library_load()


@pytest.fixture
def anonymous_conversations(settings):
    settings.BROWSER_ALLOW_ANONYMOUS = True


@pytest.fixture
def signed_in_only(settings):
    settings.BROWSER_ALLOW_ANONYMOUS = False
