"""The media socket through the real ASGI router: refusals, bad input, transcription mode."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from calls.models import Call
from media.acs import codec, live
from media.engine.audio import silence, tone
from metrics import services as metrics_services
from metrics.models import ConversationSession, Turn
from testing.acs_stream_client import AcsMediaStreamClient, CommunicatorTransport
from tests.media_stream.media import (
    SECRET,
    close_info,
    drain_metrics,  # noqa: F401 - fixture
    eventually,
    fake_speech_providers,
    make_call,
    media_socket_settings,  # noqa: F401 - fixture
    stream_path,
)
from voiceproject.asgi import application

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("drain_metrics", "media_socket_settings"),
]

SPEECH = tone(600, 16000, 220.0, 0.5)


async def connect(path: str, headers=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.parametrize(
    ("path", "code", "reason"),
    [
        ("/api/v1/media/stream?token=" + SECRET, 4400, "call_connection_id is required"),
        ("/api/v1/media/stream?call_connection_id=c-1", 4401, "missing 'token'"),
        ("/api/v1/media/stream?call_connection_id=c-1&token=nope", 4401, "wrong callback token"),
        (f"/api/v1/media/stream?call_connection_id=nobody&token={SECRET}", 4404, "no call"),
    ],
)
async def test_refusals_close_with_a_clear_code(path, code, reason):
    communicator = await connect(path)
    closed = await close_info(communicator)
    assert closed["code"] == code and reason in closed["reason"]


async def test_ended_call_is_refused():
    await make_call("ended-1", streaming_mode="media", status=Call.Status.DISCONNECTED)
    communicator = await connect(stream_path("ended-1"))
    closed = await close_info(communicator)
    assert closed["code"] == 4410


async def test_call_id_from_the_acs_header(settings):
    await make_call("hdr-1", streaming_mode="transcription")
    communicator = await connect(
        f"/api/v1/media/stream?token={SECRET}", headers=[(b"x-ms-call-connection-id", b"hdr-1")]
    )
    await communicator.send_to(
        text_data=codec.encode_transcription_metadata(call_connection_id="x")
    )
    get = database_sync_to_async(Call.objects.get)

    async def media_connected():
        return (await get(call_connection_id="hdr-1")).media_connected_at

    await eventually(media_connected)
    await communicator.disconnect()


async def test_acs_transcription_is_stored_and_relayed_live():
    await make_call("tr-acs", streaming_mode="transcription", session_id="sess-tr-acs")
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("session.sess-tr-acs", channel)
    communicator = await connect(stream_path("tr-acs"))
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "tr-acs")
    await client.start(kind="transcription")
    await client.send_transcription("I would like", final=False)
    await client.send_transcription("I would like to check my balance", final=True)
    await client.send_transcription("thank you", final=True)
    relayed = []
    async with asyncio.timeout(5):
        while len(relayed) < 3:
            relayed.append((await layer.receive(channel))["envelope"])
    assert [
        e["payload"].get("message") or e["payload"].get("data", {}).get("content") for e in relayed
    ] == ["I would like", "I would like to check my balance", "thank you"]
    await client.hang_up()
    await metrics_services.flush()
    turns = await database_sync_to_async(list)(
        Turn.objects.filter(session__session_id="sess-tr-acs").order_by("index")
    )
    assert [t.user_text for t in turns] == ["I would like to check my balance", "thank you"]
    assert all(t.assistant_text == "" for t in turns)
    session = await database_sync_to_async(ConversationSession.objects.get)(
        session_id="sess-tr-acs"
    )
    assert session.call_connection_id == "tr-acs" and session.streaming_mode == "transcription"
    # Nothing was ever spoken to the caller.
    assert not [r for r in client.log if r.kind in ("audio", "stop")]


async def test_local_transcription_of_call_audio_and_reconnect_resumes(settings):
    fake_speech_providers(settings, stt_script=["caller speech"])
    await make_call("tr-local", streaming_mode="transcription", session_id="sess-tr-local")
    communicator = await connect(stream_path("tr-local"))
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "tr-local")
    await client.start()
    await client.play(SPEECH, speed=20)
    await client.play_silence(700, speed=20)
    await client.hang_up()
    # The caller calls back on the same call: the transcript goes on with the next turn.
    communicator = await connect(stream_path("tr-local"))
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "tr-local")
    await client.start()
    await client.play(SPEECH, speed=20)  # hung up mid-sentence: still transcribed
    await client.hang_up()
    await metrics_services.flush()
    turns = await database_sync_to_async(list)(
        Turn.objects.filter(session__session_id="sess-tr-local").order_by("index")
    )
    assert [(t.turn_id, t.user_text) for t in turns] == [(1, "caller speech"), (2, "caller speech")]
    assert not [r for r in client.log if r.kind in ("audio", "stop")]


async def test_bad_input_is_counted_and_the_call_goes_on(settings, caplog):
    await make_call("bad-1", streaming_mode="transcription", session_id="sess-bad")
    communicator = await connect(stream_path("bad-1"))
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "bad-1")
    await client.start(kind="transcription")
    before = dict(live.snapshot()["rejected_messages"])
    for junk in (
        "{oops",
        json.dumps({"kind": "VideoData", "videoData": {}}),
        json.dumps({"kind": "AudioData", "audioData": {"data": "***"}}),
        json.dumps({"kind": "AudioData", "audioData": {"data": "AAE="}}),  # 2 bytes
        "x" * (codec.MAX_MESSAGE_CHARS + 10),
    ):
        await client.send_raw(junk)
    await communicator.send_to(bytes_data=silence(20, 16000))
    await client.send_transcription("still here", final=True)
    reasons = (
        "malformed_json",
        "unknown_kind",
        "bad_base64",
        "bad_frame_size",
        "oversized",
        "binary_frame",
    )
    counted: dict = {}
    async with asyncio.timeout(5):
        while counted != dict.fromkeys(reasons, 1):
            now = live.snapshot()["rejected_messages"]
            counted = {r: now.get(r, 0) - before.get(r, 0) for r in reasons}
            await asyncio.sleep(0.02)
    assert "call bad-1: bad media message counted (malformed_json" in caplog.text
    await client.hang_up()
    await metrics_services.flush()
    turns = await database_sync_to_async(list)(Turn.objects.filter(session__session_id="sess-bad"))
    assert [t.user_text for t in turns] == ["still here"]
