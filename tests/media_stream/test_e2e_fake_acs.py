"""Whole calls: the real Call Automation SDK against the fake ACS, the app served by daphne.

Inbound: Event Grid `IncomingCall` → the app answers through the SDK → the fake ACS posts the
callbacks and opens the media socket like ACS → the caller speaks, is answered, talks over the
agent (StopAudio, no stale audio) → the caller hangs up → the call record holds its events and
the session its turns. The same for an outbound call, for `transcription` mode and for
`voice_live` against the fake realtime server.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agentbuilder.services import library_load
from calls.auth import event_grid_webhook_url
from calls.models import Call
from media.acs import live
from media.engine.audio import tone
from metrics import services as metrics_services
from metrics.models import ConversationSession, Turn
from metrics.selectors import session_state_get
from testing.acs_stream_client import fake_acs_hook
from testing.fake_acs import EventGridFake, FakeAcsServer
from testing.fake_realtime import FakeRealtimeServer, Reply
from tests.media_stream.media import SECRET, fake_speech_providers

CALLER = "+14255550100"
ACS_NUMBER = "+14255550199"
LONG_ANSWER = "Our checking account has no monthly fee and it pays interest every month. " * 6


def speech(ms: float, rate: int) -> bytes:
    return tone(ms, rate, 220.0, 0.5)


class Caller:
    """What the caller does on the media socket; runs in the fake ACS's media thread."""

    def __init__(
        self, *, interrupt: bool = True, transcripts: list[str] | None = None, streams: int = 1
    ) -> None:
        self.interrupt = interrupt
        self.transcripts = transcripts
        self.streams_left = streams  # `done` once every stream's scenario has finished
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.clients: list = []
        self.failure: BaseException | None = None
        self.answer_at = 0.0
        self.stop_at = 0.0
        self.stale: list = []

    async def __call__(self, client, request) -> None:
        try:
            if request.kind == "transcription":
                for text in self.transcripts or ():
                    await client.send_transcription(text[: len(text) // 2], final=False)
                    await client.send_transcription(text, final=True)
                return
            rate = request.sample_rate_hz
            if self.transcripts is None:
                await client.wait_for_agent_audio()  # the greeting
                await client.wait_agent_quiet(300)
            await client.play(speech(500, rate))
            await client.play_silence(700)
            if self.transcripts is not None:
                return
            answer = await client.wait_for_agent_audio(after=client.utterances[-1].ended_at)
            self.answer_at = answer.at
            if self.interrupt:
                await asyncio.sleep(0.3)
                await client.play(speech(600, rate))
                stop = (await client.wait_for(client.stops))[0]
                self.stop_at = stop.at
                ended = client.utterances[-1].ended_at
                self.stale = [r for r in client.audio_after(stop.at) if r.at <= ended]
                await client.play_silence(700)
                await client.wait_for_agent_audio(after=client.utterances[-1].ended_at)
            await client.wait_agent_quiet(300)
        except BaseException as exc:
            self.failure = exc
            raise
        finally:
            with self.lock:
                self.streams_left -= 1
                if self.streams_left <= 0:
                    self.done.set()


@pytest.fixture
def agents(transactional_db):
    library_load()


@pytest.fixture
def e2e(settings, asgi_server, agents):
    """The app configured for a fake ACS (secret scheme), BASE_URL the daphne server."""
    settings.BASE_URL = asgi_server.url
    settings.ACS_ENDPOINT = ""
    settings.ACS_SOURCE_PHONE_NUMBER = CALLER
    settings.ACS_CALLBACK_SECRET = SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.ACS_COGNITIVE_SERVICES_ENDPOINT = ""
    settings.REALTIME_SPEECH_PROVIDER = None
    return settings


def run_fake(settings, caller: Caller) -> FakeAcsServer:
    fake = FakeAcsServer(auto_deliver=False, on_media_stream=fake_acs_hook(caller, caller.clients))
    fake.start()
    settings.ACS_CONNECTION_STRING = fake.connection_string
    return fake


def answer_inbound(fake: FakeAcsServer) -> str:
    invite = fake.ring(from_number=CALLER, to_number=ACS_NUMBER)
    delivery = EventGridFake(event_grid_webhook_url()).deliver([invite.event])
    assert delivery.status == 200, delivery.response
    return delivery.response["call_connection_id"]


def hang_up(fake: FakeAcsServer, call_connection_id: str) -> None:
    fake.hang_up_from_caller(call_connection_id)
    fake.flush()
    fake.wait_media_closed(10)
    # The app finishes the socket (conversation closed, state stored) after ACS hung up.
    for _ in range(500):
        if not live.snapshot()["active"]:
            break
        time.sleep(0.02)
    metrics_services.flush_blocking()


def stored_turns(session_id: str) -> list[Turn]:
    return list(Turn.objects.filter(session__session_id=session_id).order_by("index"))


def assert_barge_in(caller: Caller) -> None:
    assert caller.failure is None, caller.failure
    client = caller.clients[0]
    assert len(client.stops()) == 1 and caller.stop_at > caller.answer_at
    assert caller.stale == [], "audio of the cancelled answer arrived after StopAudio"


def event_names(call: Call) -> set[str]:
    return {e.split(".")[-1] for e in call.events.values_list("event_type", flat=True)}


def test_inbound_call_end_to_end(e2e):
    fake_speech_providers(
        e2e,
        stt_script=["what does checking cost", "no thanks"],
        llm_script=[[LONG_ANSWER], ["Alright, anything else?"]],
        ms_per_char=3,
    )
    caller = Caller()
    fake = run_fake(e2e, caller)
    try:
        call_connection_id = answer_inbound(fake)
        fake.flush()  # CallConnected, MediaStreamingStarted; ACS dials the media socket
        assert caller.done.wait(30)
        assert_barge_in(caller)
        assert {r.pcm_bytes for r in caller.clients[0].log if r.kind == "audio"} == {640}
        hang_up(fake, call_connection_id)
    finally:
        fake.stop()
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.status == "disconnected" and call.direction == "inbound"
    assert call.media_connected_at and call.media_disconnected_at
    assert {"IncomingCall", "CallConnected", "MediaStreamingStarted", "CallDisconnected"} <= (
        event_names(call)
    )
    turns = stored_turns(call.session_id)
    assert [(t.user_text, t.interrupted) for t in turns] == [
        ("", False),
        ("what does checking cost", True),
        ("no thanks", False),
    ]
    history = session_state_get(call.session_id).history
    assert [m["content"] for m in history if m["role"] == "user"] == [
        "what does checking cost",
        "no thanks",
    ]


def test_outbound_call_end_to_end(e2e, auth_client):
    fake_speech_providers(e2e, stt_script=["is this the bank"], ms_per_char=3)
    caller = Caller(interrupt=False)
    fake = run_fake(e2e, caller)
    try:
        response = auth_client.post(
            "/api/v1/calls/initiate", {"target_number": "+14255550123"}, format="json"
        )
        assert response.status_code == 200, response.json()
        call_connection_id = response.json()["call_id"]
        fake.flush()  # the callee picks up: callbacks, then the media socket
        assert caller.done.wait(30)
        assert caller.failure is None, caller.failure
        assert caller.answer_at > caller.clients[0].utterances[-1].ended_at
        hang_up(fake, call_connection_id)
    finally:
        fake.stop()
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.direction == "outbound" and call.status == "disconnected"
    assert {"CallConnected", "MediaStreamingStarted", "CallDisconnected"} <= event_names(call)
    turns = stored_turns(call.session_id)
    assert [t.user_text for t in turns] == ["", "is this the bank"]
    assert turns[1].assistant_text == "You said: is this the bank."


def test_transcription_call_end_to_end(e2e):
    e2e.ACS_STREAMING_MODE = "transcription"
    e2e.ACS_COGNITIVE_SERVICES_ENDPOINT = "https://speech.example.com"  # ACS transcribes
    caller = Caller(transcripts=["I lost my card yesterday", "please block it"], streams=2)
    fake = run_fake(e2e, caller)
    try:
        call_connection_id = answer_inbound(fake)
        fake.flush()
        assert caller.done.wait(30)
        assert len(caller.clients) == 2  # the audio stream and the transcription stream
        hang_up(fake, call_connection_id)
    finally:
        fake.stop()
    assert caller.failure is None, caller.failure
    for client in caller.clients:  # no agent ever speaks in this mode
        assert not [r for r in client.log if r.kind in ("audio", "stop")]
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.streaming_mode == "transcription"
    assert "TranscriptionStarted" in event_names(call)
    turns = stored_turns(call.session_id)
    assert [t.user_text for t in turns] == ["I lost my card yesterday", "please block it"]


def test_voice_live_call_end_to_end(e2e):
    fake_speech_providers(e2e)
    e2e.ACS_STREAMING_MODE = "voice_live"

    def respond(conn, user_text):
        if conn.pending_instructions:
            return Reply(text="Hello from Voice Live.")
        if user_text == "and savings":
            return Reply(text="Savings pay more.")
        return Reply(text=LONG_ANSWER)

    realtime = FakeRealtimeServer(
        api_key="k", respond=respond, transcripts=["what about checking", "and savings"]
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(realtime.start(), loop).result(5)
    e2e.REALTIME_SPEECH_PROVIDER = {
        "BACKEND": "media.providers.realtime.RealtimeSession",
        "OPTIONS": {"provider": "azure_voice_live", "endpoint": realtime.http_url,
                    "api_key": "k", "model": "gpt-4o"},
    }  # fmt: skip
    caller = Caller()
    fake = run_fake(e2e, caller)
    try:
        call_connection_id = answer_inbound(fake)
        fake.flush()
        assert caller.done.wait(30)
        assert_barge_in(caller)
        assert {r.pcm_bytes for r in caller.clients[0].log if r.kind == "audio"} == {960}
        hang_up(fake, call_connection_id)
    finally:
        fake.stop()
        asyncio.run_coroutine_threadsafe(realtime.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
    conn = realtime.connections[0]
    assert conn.truncations and 0 < conn.truncations[-1]["audio_end_ms"] < len(LONG_ANSWER) * 55
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.streaming_mode == "voice_live" and call.status == "disconnected"
    turns = stored_turns(call.session_id)
    assert [(t.user_text, t.interrupted) for t in turns] == [
        ("", False),
        ("what about checking", True),
        ("and savings", False),
    ]


GOODBYE = "no that's everything thank you goodbye"


def test_the_agent_hangs_up_after_the_callers_goodbye(e2e):
    fake_speech_providers(e2e, stt_script=[GOODBYE], ms_per_char=3)
    e2e.SPEECH_PROVIDERS["llm"] = {
        "BACKEND": "media.providers.rules.RulesDialogueEngine",
        "OPTIONS": {},
    }
    clients: list = []
    done = threading.Event()
    heard: dict = {}

    async def caller(client, request) -> None:
        try:
            rate = request.sample_rate_hz
            await client.wait_for_agent_audio()  # the greeting
            await client.wait_agent_quiet(300)
            await client.play(speech(500, rate))
            # The end of turn's silence and no more: the farewell and the hang-up come soon
            # after it, and a caller still sending would find the socket closed.
            await client.play_silence(e2e.END_OF_TURN_SILENCE_MS + 40)
            ended = client.utterances[-1].ended_at
            heard["farewell"] = await client.wait_for_agent_audio(after=ended)
            await client.wait_closed(15)  # the app hangs up: the caller does nothing more
            heard["closed_at"] = client.loop.time()
        finally:
            done.set()

    fake = FakeAcsServer(auto_deliver=False, on_media_stream=fake_acs_hook(caller, clients))
    fake.start()
    e2e.ACS_CONNECTION_STRING = fake.connection_string
    try:
        call_connection_id = answer_inbound(fake)
        fake.flush()  # CallConnected, MediaStreamingStarted; ACS dials the media socket
        assert done.wait(30) and "closed_at" in heard, "the app did not close the media socket"
        # The app hung up through the Call Automation SDK: the fake ACS ended the call, and
        # its callbacks (MediaStreamingStopped, CallDisconnected) reach the app.
        assert fake.get_call(call_connection_id).state == "disconnected"
        assert any(r.path.endswith(f"{call_connection_id}:terminate") for r in fake.requests)
        fake.flush()
        fake.wait_media_closed(10)
        for _ in range(500):
            if not live.snapshot()["active"]:
                break
            time.sleep(0.02)
        metrics_services.flush_blocking()
    finally:
        fake.stop()
    client = clients[0]
    assert client.close_code == 1000
    # The farewell had been played out when the app hung up (its audio arrives paced at real
    # time, 60 ms ahead; the hang-up waits for the last of it to be heard).
    farewell = client.audio_after(heard["farewell"].at - 0.001)
    farewell_s = sum(r.pcm_bytes for r in farewell) / 2 / client.sample_rate_hz
    assert farewell_s > 0.05
    assert heard["closed_at"] - heard["farewell"].at >= farewell_s - 0.02
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.status == "disconnected" and call.disconnect_reason.startswith(
        "terminated: end_call"
    )
    assert call.media_connected_at and call.media_disconnected_at
    assert {"CallConnected", "MediaStreamingStopped", "CallDisconnected"} <= event_names(call)
    turns = stored_turns(call.session_id)
    assert [(t.user_text, t.assistant_text) for t in turns][-1] == (
        GOODBYE,
        "Thank you for calling. Goodbye.",
    )
    assert ConversationSession.objects.get(session_id=call.session_id).status == "completed"
