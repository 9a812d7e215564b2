"""Outbound calls screened for voicemail: placed through the real Call Automation SDK against
the fake ACS, answered on the media socket by a voicemail box or by a person.

A voicemail box (a greeting the recognizer reads as one, then a beep) gets the call's message
after the beep, then the app hangs up; a person's "hello?" gets the agent. The detector's
accuracy on spoken audio is measured in `bench/voicemail.py`; here the recognizer is the
scripted fake and speech a 220 Hz tone, so that what is tested is the call flow.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from calls.models import Call
from media.engine.audio import tone
from media.voicemail import AnsweringMachineDetector, ToneDetector, Verdict, words_verdict
from testing.acs_stream_client import fake_acs_hook, speak_text
from testing.fake_acs import FakeAcsServer
from tests.media_stream import test_e2e_fake_acs as calls_e2e
from tests.media_stream.media import fake_speech_providers
from tests.media_stream.test_e2e_fake_acs import speech

# The whole-call set-up of the end-to-end tests: daphne, the agents, settings for the fake ACS.
agents, e2e = calls_e2e.agents, calls_e2e.e2e

MESSAGE = "This is Contoso Bank with a message about your card. Please call us back."
GREETING = "Hi, you've reached Mark. I can't take your call, please leave a message after the tone."


def _place_call(auth_client, fake: FakeAcsServer) -> str:
    response = auth_client.post(
        "/api/v1/calls/initiate",
        {"target_number": "+14255550123", "voicemail_message": MESSAGE},
        format="json",
    )
    assert response.status_code == 200, response.json()
    fake.flush()  # the callee picks up: callbacks, then the media socket
    return response.json()["call_id"]


def _run_fake(settings, scenario, clients: list) -> FakeAcsServer:
    fake = FakeAcsServer(auto_deliver=False, on_media_stream=fake_acs_hook(scenario, clients))
    fake.start()
    settings.ACS_CONNECTION_STRING = fake.connection_string
    return fake


def test_a_voicemail_box_gets_the_message_after_its_beep_and_the_call_ends(e2e, auth_client):
    fake_speech_providers(e2e, stt_script=[GREETING], ms_per_char=3)
    clients: list = []
    done = threading.Event()
    heard: dict = {}

    async def voicemail_box(client, request) -> None:
        try:
            rate = request.sample_rate_hz
            await client.play(speech(3000, rate))  # the greeting
            await client.play_silence(300)
            heard["beep_at"] = client.loop.time()
            await client.play(tone(500, rate, 1000.0, 0.3), is_speech=False)
            heard["message"] = await client.wait_for_agent_audio(timeout_s=15)
            # Recording until the app hangs up (no more audio sent: the socket closes under it).
            await client.wait_closed(15)
        finally:
            done.set()

    fake = _run_fake(e2e, voicemail_box, clients)
    try:
        call_connection_id = _place_call(auth_client, fake)
        assert done.wait(40)
        # The app hung up through the Call Automation SDK once the message was said.
        assert fake.get_call(call_connection_id).state == "disconnected"
        assert any(r.path.endswith(f"{call_connection_id}:terminate") for r in fake.requests)
    finally:
        fake.stop()
    client = clients[0]
    assert client.closed
    # Nothing was said over the greeting: the message started after the beep.
    assert client.audio_after(0) and client.audio_after(0)[0].at > heard["beep_at"]
    message_s = len(client.audio_after(0)) * 0.02
    assert message_s >= 0.8 * len(MESSAGE) * 3 / 1000  # the tone TTS: 3 ms per character
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.answered_by == Call.AnsweredBy.MACHINE


def test_a_person_who_says_hello_gets_the_agent(e2e, auth_client):
    fake_speech_providers(e2e, stt_script=["is this the bank"], ms_per_char=3)
    clients: list = []
    done = threading.Event()
    heard: dict = {}

    async def person(client, request) -> None:
        try:
            rate = request.sample_rate_hz
            await client.play(speech(500, rate))  # "Hello?"
            await client.play_silence(1000)
            heard["greeting"] = await client.wait_for_agent_audio(timeout_s=15)
            await client.wait_agent_quiet(300)
        finally:
            done.set()

    fake = _run_fake(e2e, person, clients)
    try:
        call_connection_id = _place_call(auth_client, fake)
        assert done.wait(40) and "greeting" in heard
        assert fake.get_call(call_connection_id).state != "disconnected"
        fake.hang_up_from_caller(call_connection_id)
        fake.flush()
        fake.wait_media_closed(10)
    finally:
        fake.stop()
    call = Call.objects.get(call_connection_id=call_connection_id)
    assert call.answered_by == Call.AnsweredBy.HUMAN


def test_a_message_too_long_is_refused(e2e, auth_client):
    body = {"target_number": "+14255550123", "voicemail_message": "x" * 1001}
    response = auth_client.post("/api/v1/calls/initiate", body, format="json")
    assert response.status_code == 400
    assert "voicemail_message" in response.json()["fields"]
    assert not Call.objects.exists()


# --- the detector on spoken audio --------------------------------------------------------


def _frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + 640] for i in range(0, len(pcm) - 639, 640)]


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Hi, you've reached Mark. Please leave a message after the tone.", Verdict.MACHINE),
        ("The person you are calling is not available.", Verdict.MACHINE),
        ("Please state your name and the reason for your call.", Verdict.SCREENING),
        ("Hello, who's this?", None),
    ],
)
def test_what_greetings_and_screening_services_say(text, verdict):
    assert words_verdict(text) is verdict


def test_a_beep_is_a_tone_and_speech_is_not():
    detector = ToneDetector()
    assert any(detector.push(f) for f in _frames(tone(300, 16000, 1000.0, 0.3)))
    detector = ToneDetector()
    assert ToneDetector().tone_hz(tone(20, 16000, 850.0, 0.3)) == pytest.approx(850, abs=16)


async def test_spoken_greeting_and_hello_are_told_apart():
    """Real speech (the local TTS), an energy VAD: a "hello" is a person at once, without the
    recognizer; a long greeting asks the recognizer, whose words decide."""

    def energy(frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
        return float(np.sqrt(np.mean(samples**2)) > 500)

    hello = await speak_text("Hello?", 16000)
    detector = AnsweringMachineDetector(energy)
    for frame in _frames(bytes(6400) + hello + bytes(32000)):
        assert detector.push(frame) is None
        if detector.decision:
            break
    assert detector.decision.verdict is Verdict.HUMAN
    assert detector.decision.reason == "short answer"

    greeting = await speak_text(GREETING, 16000)
    detector = AnsweringMachineDetector(energy)
    requests = []
    for frame in _frames(bytes(6400) + greeting + bytes(32000)):
        request = detector.push(frame)
        if request is not None:
            requests.append(request)
            detector.heard(request, "Hi, you've reached Mark.")
        if detector.decision:
            break
    assert detector.decision.verdict is Verdict.MACHINE and detector.decision.reason == "words"
    assert len(requests) == 1 and detector.decision.after_onset_ms <= 1400
    assert len(requests[0].pcm) >= 1.2 * 32000  # the speech so far, from before its onset
