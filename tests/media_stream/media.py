"""Helpers shared by the media socket tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from calls.models import Call
from media.providers import FAKE_PROVIDERS
from metrics import services as metrics_services

SECRET = "media-test-secret"


@pytest.fixture
def media_socket_settings(settings):
    """The media socket authenticated by the URL secret, transcription by the fakes."""
    settings.ACS_CALLBACK_SECRET = SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.ACS_COGNITIVE_SERVICES_ENDPOINT = ""
    return settings


@pytest.fixture
async def drain_metrics():
    """Wait for the background metrics writer, so no write races the test database teardown."""
    yield
    await metrics_services.flush()


def stream_path(call_connection_id: str, **params: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return f"/api/v1/media/stream?call_connection_id={call_connection_id}&token={SECRET}{extra}"


async def make_call(
    call_connection_id: str,
    *,
    streaming_mode: str,
    status: str = Call.Status.CONNECTED,
    session_id: str = "",
) -> Call:
    def create() -> Call:
        return Call.objects.create(
            call_connection_id=call_connection_id,
            direction=Call.Direction.INBOUND,
            from_number="+14255550100",
            to_number="+14255550199",
            status=status,
            streaming_mode=streaming_mode,
            session_id=session_id or call_connection_id,
        )

    return await database_sync_to_async(create)()


async def close_info(communicator: WebsocketCommunicator, timeout_s: float = 5) -> dict:
    while True:
        message = await communicator.receive_output(timeout=timeout_s)
        if message["type"] == "websocket.close":
            # The server closed; the client side then ends the connection, as a socket does.
            await communicator.disconnect(code=message.get("code", 1000), timeout=timeout_s)
            return message


def fake_speech_providers(
    settings: Any, *, stt_script: list[str] = (), llm_script: list | None = None, **tts: Any
) -> None:
    """The fake providers (energy VAD, scripted STT and LLM, tone TTS) for this test."""
    providers = copy.deepcopy(FAKE_PROVIDERS)
    providers["stt"]["OPTIONS"] = {"script": list(stt_script), "partial_every_frames": 10}
    if llm_script is not None:
        providers["llm"]["OPTIONS"] = {"script": llm_script}
    providers["tts"]["OPTIONS"] = dict(tts)
    settings.SPEECH_PROVIDERS = providers


async def eventually(check, timeout_s: float = 5.0, interval_s: float = 0.02):
    """Poll `check()` (sync or async) until it returns something truthy; fail on timeout."""
    import asyncio
    import inspect

    from django.db import OperationalError

    for _ in range(int(timeout_s / interval_s)):
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except OperationalError:  # SQLite's shared in-memory test database: a writer holds it
            value = None
        if value:
            return value
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
