"""`media` and `voice_live` calls on the media socket, through the real router and the glue.

The speech providers are the fakes (energy VAD, scripted STT and LLM, tone TTS): what is under
test is the socket, the wire format, pacing, barge-in and persistence.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from agentbuilder.services import library_load
from media.engine.audio import tone
from metrics import services as metrics_services
from metrics.models import ConversationSession, Turn
from testing.acs_stream_client import AcsMediaStreamClient, CommunicatorTransport
from testing.fake_realtime import FakeRealtimeServer, Reply
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

LONG_ANSWER = "Let me tell you everything about our accounts and the many fees they carry. " * 6


def speech(ms: float, rate: int = 16000) -> bytes:
    return tone(ms, rate, 220.0, 0.5)


@pytest.fixture(autouse=True)
def media_settings(settings):
    settings.ACS_CALLBACK_SECRET = SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.REALTIME_SPEECH_PROVIDER = None
    return settings


@pytest.fixture
async def agents():
    await database_sync_to_async(library_load)()


async def open_call(call_connection_id: str, rate: int = 16000) -> AcsMediaStreamClient:
    communicator = WebsocketCommunicator(application, stream_path(call_connection_id))
    connected, _ = await communicator.connect()
    assert connected
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), call_connection_id, rate)
    await client.start()
    return client


async def turns_of(session_id: str) -> list[Turn]:
    """The stored turns, once the background metrics writer has written what it was given."""
    await metrics_services.flush()
    return await database_sync_to_async(list)(
        Turn.objects.filter(session__session_id=session_id).order_by("index")
    )


async def test_media_call_greets_answers_and_stops_on_barge_in(settings, agents):
    fake_speech_providers(
        settings,
        stt_script=["what does my account cost", "stop please"],
        llm_script=[[LONG_ANSWER], ["Sure, I will stop."]],
        ms_per_char=3,
    )
    await make_call("media-1", streaming_mode="media", session_id="sess-media-1")
    client = await open_call("media-1")
    # The greeting arrives as 20 ms PCM16 frames at 16 kHz, paced at real time.
    await client.wait_for_agent_audio()
    await client.wait_agent_quiet(300)
    greeting = [r for r in client.log if r.kind == "audio"]
    assert {r.pcm_bytes for r in greeting} == {640}
    span_s = greeting[-1].at - greeting[0].at
    assert span_s >= (len(greeting) - 1) * 0.02 - 0.1  # not sent all at once
    # The caller asks; the answer is long; the caller talks over it.
    await client.play(speech(500))
    await client.play_silence(600)
    answer_start = await client.wait_for_agent_audio(after=client.utterances[-1].ended_at)
    await asyncio.sleep(0.3)
    await client.play(speech(600))
    stops = client.stops()
    assert len(stops) == 1, "barge-in sends one StopAudio"
    stop = stops[0]
    assert stop.at > answer_start.at
    # No audio of the cancelled answer after the stop while the caller was still talking.
    assert not [r for r in client.audio_after(stop.at) if r.at <= client.utterances[-1].ended_at]
    await client.play_silence(700)
    await client.wait_for_agent_audio(after=client.utterances[-1].ended_at)
    await client.wait_agent_quiet(300)
    await client.hang_up()
    turns = await turns_of("sess-media-1")
    assert [(t.user_text, t.interrupted) for t in turns] == [
        ("", False),  # the greeting
        ("what does my account cost", True),
        ("stop please", False),
    ]
    # The history keeps only what the caller heard of the interrupted answer.
    from metrics.selectors import session_state_get

    state = await database_sync_to_async(session_state_get)("sess-media-1")
    texts = [m["content"] for m in state.history]
    heard = texts[texts.index("what does my account cost") + 1]
    assert 0 < len(heard) < len(LONG_ANSWER.strip()) and LONG_ANSWER.startswith(heard)
    assert turns[1].assistant_text == heard  # the stored turn holds what was played
    assert turns[2].assistant_text == "Sure, I will stop."
    session = await database_sync_to_async(ConversationSession.objects.get)(
        session_id="sess-media-1"
    )
    assert session.call_connection_id == "media-1"


async def test_dtmf_digits_reach_the_agent_and_reconnect_resumes(settings, agents):
    fake_speech_providers(settings, ms_per_char=2)
    await make_call("dtmf-1", streaming_mode="media", session_id="sess-dtmf")
    client = await open_call("dtmf-1")
    await client.wait_for_agent_audio()
    await client.wait_agent_quiet(200)
    sent_at = client.loop.time()
    await client.send_dtmf("4821#")
    await client.wait_for_agent_audio(after=sent_at)
    await client.wait_agent_quiet(200)
    await client.hang_up()
    turns = await turns_of("sess-dtmf")
    assert turns[1].user_text == "4821" and turns[1].assistant_text == "You said: 4821."
    # The socket drops and ACS reconnects on the same call: history resumes.
    client = await open_call("dtmf-1")
    await client.wait_for_agent_audio()
    await client.wait_agent_quiet(200)
    sent_at = client.loop.time()
    await client.send_dtmf("7#")
    await client.wait_for_agent_audio(after=sent_at)
    await client.wait_agent_quiet(200)
    await client.hang_up()
    turns = await turns_of("sess-dtmf")
    assert turns[2].assistant_text.startswith("Welcome back")  # the return greeting
    assert turns[3].user_text == "7"
    from metrics.selectors import session_state_get

    state = await database_sync_to_async(session_state_get)("sess-dtmf")
    users = [m["content"] for m in state.history if m["role"] == "user"]
    assert users == ["4821", "7"]


async def test_voice_live_without_a_realtime_service_runs_the_cascade_at_24k(settings, agents):
    fake_speech_providers(settings, ms_per_char=2)
    await make_call("vl-cascade", streaming_mode="voice_live")
    client = await open_call("vl-cascade", rate=24000)
    await client.wait_for_agent_audio()
    await client.wait_agent_quiet(200)
    assert {r.pcm_bytes for r in client.log if r.kind == "audio"} == {960}
    await client.hang_up()


async def test_voice_live_through_the_realtime_service(settings, agents):
    fake_speech_providers(settings)

    def respond(conn, user_text):
        if conn.pending_instructions:
            return Reply(text="Hi there.")
        return Reply(text=LONG_ANSWER)

    async with FakeRealtimeServer(api_key="k", respond=respond, transcripts=["tell me"]) as rt:
        settings.REALTIME_SPEECH_PROVIDER = {
            "BACKEND": "media.providers.realtime.RealtimeSession",
            "OPTIONS": {
                "provider": "azure_voice_live",
                "endpoint": rt.http_url,
                "api_key": "k",
                "model": "gpt-4o",
            },
        }
        await make_call("vl-rt", streaming_mode="voice_live", session_id="sess-vl-rt")
        client = await open_call("vl-rt", rate=24000)
        await client.wait_for_agent_audio()
        await client.wait_agent_quiet(200)
        conn = rt.connections[0]
        update = next(e for e in conn.received if e["type"] == "session.update")["session"]
        assert update["voice"]["name"] == "en-US-AvaMultilingualNeural"  # the agent's voice
        assert any(t["name"] == "verify_client_identity" for t in update["tools"])
        await client.play(speech(400, 24000))
        await client.play_silence(800)
        first = await client.wait_for_agent_audio(after=client.utterances[-1].ended_at)
        await asyncio.sleep(0.4)
        await client.play(speech(500, 24000))
        stop = (await client.wait_for(client.stops))[0]
        assert stop.at > first.at
        assert not [
            r for r in client.audio_after(stop.at) if r.at <= client.utterances[-1].ended_at
        ]
        truncation = (await eventually(lambda: conn.truncations))[-1]
        assert 0 < truncation["audio_end_ms"] < len(LONG_ANSWER) * 55
        assert {r.pcm_bytes for r in client.log if r.kind == "audio"} == {960}
        await client.hang_up()
    turns = await turns_of("sess-vl-rt")
    assert turns[1].user_text == "tell me" and turns[1].interrupted
