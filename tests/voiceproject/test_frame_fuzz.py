"""Malformed frames by the thousand into the three sockets, through the real ASGI router.

Each socket gets frames made from a fixed seed: malformed JSON, wrong kinds and types, huge
strings, invalid base64, odd audio sizes, binary where text is expected. No session may crash
or close, every bad frame must be counted (the media socket's rejected-message counters, the
conversation socket's `error` replies), and the conversation must answer afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from browser.consumers import MAX_AUDIO_FRAME_BYTES, MAX_TEXT_FRAME_CHARS
from media.acs import codec, live
from metrics import services as metrics_services
from metrics.models import Turn
from testing.acs_stream_client import AcsMediaStreamClient, CommunicatorTransport
from tests.browser.conftest import fake_speech, open_socket  # noqa: F401 - fixture
from tests.media_stream.media import (
    drain_metrics,  # noqa: F401 - fixture
    eventually,
    make_call,
    media_socket_settings,  # noqa: F401 - fixture
    stream_path,
)
from voiceproject.asgi import application

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("drain_metrics", "fake_speech", "media_socket_settings"),
]

SEED = 20260312
MEDIA_FRAMES = 5_000
BROWSER_FRAMES = 4_000
RELAY_FRAMES = 1_500


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzAZ_") for _ in range(rng.randint(1, 12)))


def _junk_value(rng: random.Random):
    return rng.choice([None, 5, -1.5, True, [], [1, "a"], "", _word(rng), {"x": [None]}])


def media_frame(rng: random.Random) -> str | bytes:
    """One frame the media socket must reject (each is counted under one reason)."""
    shape = rng.randrange(9)
    if shape == 0:
        return rng.choice(["{oops", '{"kind": "AudioData"', "{" * rng.randint(1, 50), "nul\x00"])
    if shape == 1:
        return json.dumps(_junk_value(rng))  # JSON, not an object
    if shape == 2:
        return json.dumps({"kind": f"Video{_word(rng)}", "data": _junk_value(rng)})
    if shape == 3:
        return json.dumps({"kind": "AudioData", "audioData": _junk_value(rng)})
    if shape == 4:
        bad = rng.choice(["***", "AB=C", "%%%%", "YQ", "\u00e9\u00e9\u00e9\u00e9"])
        return json.dumps({"kind": "AudioData", "audioData": {"data": bad}})
    if shape == 5:  # valid base64, a size no 20 ms frame has
        size = rng.choice([1, 2, 3, 7, 100, 641, 1279])
        pcm = base64.b64encode(rng.randbytes(size)).decode()
        return json.dumps({"kind": "AudioData", "audioData": {"data": pcm}})
    if shape == 6:
        return "x" * (codec.MAX_MESSAGE_CHARS + rng.randint(1, 5000))
    if shape == 7:
        return rng.randbytes(rng.randint(1, 2000))
    return json.dumps({"kind": "DtmfData", "dtmfData": {"data": _word(rng) + ";"}})


def browser_frame(rng: random.Random) -> dict:
    """One frame the conversation socket must answer with an `error` (send_to kwargs)."""
    shape = rng.randrange(8)
    if shape == 0:
        return {"text_data": rng.choice(["{oops", '{"type": "stop"', "{" * rng.randint(1, 40)])}
    if shape == 1:
        return {"text_data": json.dumps({"type": f"dance_{_word(rng)}", "x": _junk_value(rng)})}
    if shape == 2:
        return {"text_data": json.dumps({"type": "text", "text": rng.choice([5, None, [], " "])})}
    if shape == 3:
        return {"text_data": json.dumps({"type": "dtmf", "digits": _word(rng) + ";drop"})}
    if shape == 4:
        return {"text_data": "y" * (MAX_TEXT_FRAME_CHARS + rng.randint(1, 3000))}
    if shape == 5:
        return {"text_data": " " * rng.randint(1, 20)}
    if shape == 6:  # PCM16 needs an even number of bytes
        return {"bytes_data": rng.randbytes(2 * rng.randint(0, 300) + 1)}
    return {"bytes_data": bytes(MAX_AUDIO_FRAME_BYTES + 2 * rng.randint(1, 100))}


def relay_frame(rng: random.Random) -> dict:
    """Anything at all: the relay only listens (and answers a ping)."""
    if rng.random() < 0.3:
        return {"bytes_data": rng.randbytes(rng.randint(1, 500))}
    return {"text_data": rng.choice(["{oops", json.dumps(_junk_value(rng)), "z" * 20_000])}


async def _messages(communicator: WebsocketCommunicator, until, timeout_s: float = 20.0):
    """Messages received until `until(messages)` holds; fails on a close."""
    messages: list[dict] = []

    async def read():
        while not until(messages):
            output = await communicator.receive_output(timeout=timeout_s)
            assert output["type"] != "websocket.close", output
            messages.append(json.loads(output["text"]))

    await asyncio.wait_for(read(), timeout_s)
    return messages


def _errors(messages):
    return sum(1 for m in messages if m.get("type") == "error")


async def test_the_media_socket_counts_every_bad_frame_and_the_call_goes_on():
    rng = random.Random(SEED)
    await make_call("fuzz-1", streaming_mode="transcription", session_id="sess-fuzz")
    communicator = WebsocketCommunicator(application, stream_path("fuzz-1"))
    assert (await communicator.connect())[0]
    client = AcsMediaStreamClient(CommunicatorTransport(communicator), "fuzz-1")
    await client.start(kind="transcription")
    before = sum(live.snapshot()["rejected_messages"].values())

    for _ in range(MEDIA_FRAMES):
        frame = media_frame(rng)
        if isinstance(frame, bytes):
            await communicator.send_to(bytes_data=frame)
        else:
            await client.send_raw(frame)
    await client.send_transcription("still here", final=True)

    def counted() -> int:
        return sum(live.snapshot()["rejected_messages"].values()) - before

    await eventually(lambda: counted() >= MEDIA_FRAMES, timeout_s=30)
    assert counted() == MEDIA_FRAMES
    assert await communicator.receive_nothing(timeout=0.1)  # not closed
    await client.hang_up()
    await metrics_services.flush()
    turns = await database_sync_to_async(list)(Turn.objects.filter(session__session_id="sess-fuzz"))
    assert [t.user_text for t in turns] == ["still here"]


async def test_the_conversation_and_relay_sockets_survive_and_answer(staff_user):
    rng = random.Random(SEED)
    conversation = await open_socket("/api/v1/browser/conversation?session_id=session_fuzz_01")
    greeted = await _messages(
        conversation,
        lambda ms: any(m["type"] == "assistant" and m["payload"].get("is_greeting") for m in ms),
    )
    relay = await open_socket(
        "/api/v1/browser/dashboard/relay?session_id=session_fuzz_01", user=staff_user
    )
    await _messages(relay, lambda ms: len(ms) >= 1)  # "Dashboard relay connected"

    for _ in range(BROWSER_FRAMES):
        await conversation.send_to(**browser_frame(rng))
    for _ in range(RELAY_FRAMES):
        await relay.send_to(**relay_frame(rng))
    after = await _messages(conversation, lambda ms: _errors(ms) >= BROWSER_FRAMES, 40)
    assert _errors(greeted) == 0 and _errors(after) == BROWSER_FRAMES

    # Both still serve: a ping, then a typed question answered and relayed to the dashboard.
    await relay.send_to(text_data=json.dumps({"type": "ping"}))
    await _messages(relay, lambda ms: any(m.get("type") == "pong" for m in ms))
    await conversation.send_to(text_data="What can you help me with?")
    answered = await _messages(
        conversation,
        lambda ms: any(
            m.get("type") == "event" and m["payload"].get("type") == "assistant" for m in ms
        ),
    )
    assert _errors(answered) == 0
    relayed = await _messages(
        relay, lambda ms: any(m.get("payload", {}).get("type") == "assistant" for m in ms)
    )
    assert relayed
    await conversation.disconnect()
    await relay.disconnect()
