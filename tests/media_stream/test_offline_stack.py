"""A phone call on the embedded offline stack: Silero VAD, pocketsphinx, the rules engine, piper.

The caller's words are spoken by the local TTS, sent as ACS would, recognised by pocketsphinx,
and routed by the rules engine to the fraud agent, whose answer comes back as audio.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from agentbuilder.services import library_load
from metrics import services as metrics_services
from metrics.models import ConversationSession, Turn
from testing.acs_stream_client import AcsMediaStreamClient, CommunicatorTransport, speak_text
from tests.media_stream.media import SECRET, drain_metrics, make_call, stream_path  # noqa: F401
from voiceproject.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drain_metrics")]

OFFLINE = {
    "stt": {"BACKEND": "media.providers.local.PocketsphinxSTT", "OPTIONS": {}},
    "tts": {"BACKEND": "media.providers.local.LocalTTS", "OPTIONS": {}},
    "llm": {"BACKEND": "media.providers.rules.RulesDialogueEngine", "OPTIONS": {}},
    "vad": {"BACKEND": "media.providers.vad.SileroVAD", "OPTIONS": {}},
}


async def test_offline_stack_answers_a_phone_caller(settings):
    settings.ACS_CALLBACK_SECRET = SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.SPEECH_PROVIDERS = OFFLINE
    settings.REALTIME_SPEECH_PROVIDER = None
    await database_sync_to_async(library_load)()
    await make_call("offline-1", streaming_mode="media", session_id="sess-offline")
    words = await speak_text("I want to talk to someone about fraud", 16000)

    communicator = WebsocketCommunicator(application, stream_path("offline-1"))
    assert (await communicator.connect())[0]
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "offline-1")
    await client.start()
    await client.wait_for_agent_audio(timeout_s=20)  # the greeting, synthesized by piper
    await client.play(words)  # over the greeting: it stops
    assert client.stops()
    await client.play_silence(900)
    answer = await client.wait_for_agent_audio(after=client.utterances[-1].ended_at, timeout_s=20)
    assert answer.pcm_bytes == 640
    await client.wait_agent_quiet(500, timeout_s=30)
    await client.hang_up()

    await metrics_services.flush()
    turns = await database_sync_to_async(list)(
        Turn.objects.filter(session__session_id="sess-offline").order_by("index")
    )
    assert "fraud" in turns[1].user_text  # pocketsphinx heard the caller
    session = await database_sync_to_async(ConversationSession.objects.get)(
        session_id="sess-offline"
    )
    assert session.active_agent == "FraudAgent"  # the rules engine handed the caller over
    assert turns[-1].agent == "FraudAgent" and turns[-1].assistant_text
