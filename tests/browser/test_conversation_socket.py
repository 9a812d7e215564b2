"""The browser conversation socket, through the real router, on fake speech providers."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from metrics.models import ConversationSession, Turn
from metrics.services import flush_blocking
from tests.browser.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSATION = "/api/v1/browser/conversation"


class Client:
    """A socket and everything it has received."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.messages: list[dict] = []

    async def until(self, predicate, timeout_s: float = 10.0) -> dict:
        for message in self.messages:
            if predicate(message):
                return message

        async def read():
            while True:
                output = await self.communicator.receive_output(timeout=timeout_s)
                if output["type"] == "websocket.close":
                    raise AssertionError(f"socket closed: {output}")
                message = json.loads(output["text"])
                self.messages.append(message)
                if predicate(message):
                    return message

        return await asyncio.wait_for(read(), timeout_s)

    async def send(self, **kwargs):
        await self.communicator.send_to(**kwargs)

    async def close(self):
        await self.communicator.disconnect()


async def connect(query: str = "", user=None) -> Client:
    return Client(await open_socket(f"{CONVERSATION}{query}", user=user))


def is_greeting(m):
    return m.get("type") == "assistant" and m["payload"].get("is_greeting")


def is_answer(m):
    return m.get("type") == "event" and m["payload"].get("type") == "assistant"


def is_user_final(m):
    return m.get("type") == "event" and m["payload"].get("type") == "user"


def is_error(code):
    return lambda m: m.get("type") == "error" and m["payload"].get("code") == code


async def closed(client: Client) -> dict:
    """The server's close frame; then the disconnect a protocol server sends the app."""
    while True:
        output = await client.communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            await client.communicator.disconnect(code=output.get("code", 1000))
            return output
        client.messages.append(json.loads(output["text"]))


async def refused(client: Client) -> tuple[int, str]:
    """The close code, and the reason as the client reads it: from the `error` message sent
    just before the close (daphne drops close reasons), which must agree with the close."""
    output = await closed(client)
    error = client.messages[-1]
    assert error["type"] == "error" and error["payload"]["fatal"] is True
    assert error["payload"]["close_code"] == output["code"]
    assert error["payload"]["message"][:120] == output["reason"]
    return output["code"], error["payload"]["message"]


async def test_typed_conversation_greets_answers_and_measures(fake_speech, user):
    client = await connect("?session_id=conv-typed-1", user=user)
    started = await client.until(lambda m: m["payload"].get("event") == "session_started")
    assert started["session_id"] == "conv-typed-1"
    assert started["payload"]["audio_sample_rate"] == 16000
    ready = await client.until(lambda m: m["payload"].get("event") == "agent_ready")
    assert ready["payload"]["active_agent"] == "Concierge" and ready["payload"]["resumed"] is False

    greeting = await client.until(is_greeting)
    assert "Concierge" in greeting["payload"]["active_agent"]
    audio = await client.until(lambda m: m.get("type") == "audio_data")
    assert audio["sample_rate"] == 16000 and len(base64.b64decode(audio["data"])) == 640

    await client.send(text_data="What can you help me with?")
    user_final = await client.until(is_user_final)
    assert user_final["payload"]["message"] == "What can you help me with?"
    assert user_final["payload"]["source"] == "text"
    answer = await client.until(lambda m: is_answer(m) and m["payload"]["turn_id"] >= 1)
    assert answer["payload"]["message"]
    metrics = await client.until(lambda m: m.get("type") == "turn_metrics")
    assert metrics["payload"]["first_audio_ms"] is not None
    await client.close()

    session = await ConversationSession.objects.aget(session_id="conv-typed-1")
    assert session.user_id == user.pk
    assert await Turn.objects.filter(session=session).exclude(user_text="").acount() == 1


async def test_a_preloaded_profile_is_not_a_verified_identity(fake_speech):
    from agentbuilder.services import demo_user_create

    demo = await sync_to_async(demo_user_create)(
        full_name="Jane Doe", email="jane.preload@example.com", session_id="conv-email-1"
    )
    client = await connect("?session_id=conv-email-1&user_email=jane.preload@example.com")
    greeting = await client.until(is_greeting)
    assert greeting["payload"]["message"].startswith("Hello Jane")  # the profile is known
    await client.send(text_data="What is my account balance?")
    answer = await client.until(lambda m: is_answer(m) and m["payload"]["turn_id"] >= 1)
    text = answer["payload"]["message"].lower()
    assert "verify" in text, text  # asked to prove who they are first
    balances = [f"{a.balance:,.2f}" for a in await sync_to_async(list)(demo.user.accounts.all())]
    assert balances and not any(b in answer["payload"]["message"] for b in balances)
    await client.close()


async def test_microphone_audio_is_heard(fake_speech):
    client = await connect("?session_id=conv-mic-1")
    await client.until(is_greeting)
    t = np.arange(320) / 16000
    speech = (np.sin(2 * np.pi * 300 * t) * 12000).astype("<i2").tobytes()
    silence = bytes(640)
    for _ in range(40):
        await client.send(bytes_data=speech)
    for _ in range(50):
        await client.send(bytes_data=silence)
    user_final = await client.until(is_user_final)
    assert user_final["payload"]["message"] == "what can you help me with"
    assert user_final["payload"]["source"] == "voice"
    await client.until(lambda m: is_answer(m) and m["payload"]["turn_id"] >= 1)
    await client.close()


@pytest.mark.parametrize("pause_ms", [40, 0])
async def test_talking_over_the_agent_stops_it_first_then_cancels(fake_speech, settings, pause_ms):
    settings.SPEECH_PROVIDERS["tts"]["OPTIONS"] = {"ms_per_char": 60}  # a long greeting
    settings.BARGE_IN_PAUSE_MS = pause_ms
    client = await connect(f"?session_id=conv-pause-{pause_ms}")
    await client.until(lambda m: m.get("type") == "audio_data")
    t = np.arange(320) / 16000
    speech = (np.sin(2 * np.pi * 300 * t) * 12000).astype("<i2").tobytes()
    for _ in range(10):  # 200 ms of speech over the greeting
        await client.send(bytes_data=speech)
    cancel = await client.until(lambda m: m.get("action") == "tts_cancelled")
    stops = [m for m in client.messages if m.get("action") == "audio_stop"]
    before_cancel = [m for m in stops if client.messages.index(m) < client.messages.index(cancel)]
    if pause_ms:  # the audio stopped (provisionally) before the answer was cancelled
        assert [m["resumable"] for m in before_cancel] == [True]
        assert before_cancel[0]["turn_id"] == cancel["turn_id"]
    else:  # the stop waited for the barge-in
        assert before_cancel == []
    await client.close()


def is_started(m):
    return m.get("type") == "status" and m["payload"].get("event") == "session_started"


async def test_reconnect_resumes_with_the_return_greeting(fake_speech):
    first = await connect("?session_id=conv-resume-1")
    token = (await first.until(is_started))["payload"]["session_token"]
    await first.until(is_greeting)
    await first.send(text_data="What can you help me with?")
    answered = await first.until(lambda m: m.get("type") == "turn_metrics")
    await first.close()

    second = await connect(f"?session_id=conv-resume-1&session_token={token}")
    assert "session_token" not in (await second.until(is_started))["payload"]  # given once
    ready = await second.until(lambda m: m["payload"].get("event") == "agent_ready")
    assert ready["payload"]["resumed"] is True
    greeting = await second.until(is_greeting)
    assert greeting["payload"]["message"].startswith("Welcome back")
    # Turn numbers go on from the stored turns (greeting and answer): response ids stay unique.
    assert greeting["payload"]["turn_id"] > answered["payload"]["turn_id"]
    await second.send(text_data="And what else?")
    metrics = await second.until(
        lambda m: m.get("type") == "turn_metrics" and m["payload"]["user_text"] == "And what else?"
    )
    assert metrics["payload"]["turn_id"] > answered["payload"]["turn_id"]
    await second.close()


async def test_stop_control_interrupts_the_agent(fake_speech, settings):
    settings.SPEECH_PROVIDERS["tts"]["OPTIONS"] = {"ms_per_char": 60}  # a long greeting
    client = await connect("?session_id=conv-stop-1")
    await client.until(lambda m: m.get("type") == "audio_data")
    await client.send(text_data=json.dumps({"type": "stop"}))
    cancel = await client.until(lambda m: m.get("action") == "tts_cancelled")
    stop = await client.until(lambda m: m.get("action") == "audio_stop")
    assert cancel["type"] == stop["type"] == "control"
    index = client.messages.index(stop)
    # Nothing of the cancelled turn is sent after the stop.
    await asyncio.sleep(0.3)
    with pytest.raises(asyncio.TimeoutError):
        await client.until(
            lambda m: (
                m.get("type") == "audio_data"
                and m["turn_id"] == stop["turn_id"]
                and client.messages.index(m) > index
            ),
            timeout_s=0.3,
        )
    await client.close()


async def test_bad_input_gets_clear_errors_and_the_session_survives(fake_speech):
    client = await connect("?session_id=conv-bad-1")
    await client.until(is_greeting)
    await client.send(bytes_data=b"\x01\x02\x03")
    await client.until(is_error("bad_audio_frame"))
    await client.send(bytes_data=bytes(70_000))
    await client.until(is_error("bad_audio_frame"))
    await client.send(text_data='{"type": "stop"')
    await client.until(is_error("malformed_json"))
    await client.send(text_data='{"type": "dance"}')
    unknown = await client.until(is_error("unknown_control"))
    assert "dance" in unknown["payload"]["message"]
    await client.send(text_data="x" * 9000)
    await client.until(is_error("message_too_large"))
    await client.send(text_data=json.dumps({"type": "dtmf", "digits": "12;drop"}))
    await client.until(is_error("bad_control"))
    await client.send(text_data=json.dumps({"type": "ping"}))
    await client.until(lambda m: m.get("type") == "pong")

    # Still alive: a typed message gets an answer.
    await client.send(text_data=json.dumps({"type": "text", "text": "What can you help me with?"}))
    await client.until(is_user_final)
    await client.until(lambda m: is_answer(m) and m["payload"]["turn_id"] >= 1)
    await client.send(text_data=json.dumps({"type": "end"}))
    await client.until(lambda m: m.get("type") == "exit")
    assert (await closed(client))["code"] == 1000


async def test_refusals_have_close_codes_and_reasons(
    fake_speech, settings, user, django_user_model
):
    client = await connect("?streaming_mode=media")
    code, reason = await refused(client)
    assert code == 4400 and "streaming_mode" in reason

    client = await connect("?session_id=bad%20id")
    assert (await refused(client))[0] == 4400

    client = await connect("?user_email=not-an-email")
    assert await refused(client) == (4400, "user_email is not an email")

    other = await sync_to_async(django_user_model.objects.create_user)(
        username="someone", password="x-long-passphrase"
    )
    now = timezone.now()
    await ConversationSession.objects.acreate(
        session_id="conv-private-1",
        transport="browser",
        user=other,
        started_at=now,
        last_activity_at=now,
    )
    client = await connect("?session_id=conv-private-1", user=user)
    code, reason = await refused(client)
    assert code == 4403 and "another user" in reason
    client = await connect("?session_id=conv-private-1")
    assert (await refused(client))[0] == 4403

    settings.BROWSER_ALLOW_ANONYMOUS = False
    client = await connect("")
    code, reason = await refused(client)
    assert code == 4401 and "Sign in" in reason


async def test_streaming_mode_is_case_insensitive(fake_speech):
    client = await connect("?streaming_mode=REALTIME&session_id=conv-upper-1")
    started = await client.until(lambda m: m["payload"].get("event") == "session_started")
    assert started["payload"]["streaming_mode"] == "realtime"
    await client.close()


async def test_a_dashboard_watches_the_conversation_live(fake_speech, staff_user):
    dashboard = await connect_relay("?session_id=conv-watch-1", staff_user)
    client = await connect("?session_id=conv-watch-1")
    await client.until(is_greeting)
    await client.send(text_data="What can you help me with?")
    await client.until(lambda m: m.get("type") == "turn_metrics")

    seen_greeting = await dashboard.until(is_greeting)
    assert seen_greeting["session_id"] == "conv-watch-1"
    seen_user = await dashboard.until(is_user_final)
    assert seen_user["payload"]["message"] == "What can you help me with?"
    await dashboard.until(lambda m: m.get("type") == "turn_metrics")
    assert not [m for m in dashboard.messages if m.get("type") == "audio_data"]
    await client.close()
    await dashboard.close()


async def connect_relay(query: str, user) -> Client:
    return Client(await open_socket(f"/api/v1/browser/dashboard/relay{query}", user=user))


async def test_a_goodbye_ends_the_conversation_with_exit_and_close_1000(fake_speech):
    client = await connect("?session_id=conv-bye-1")
    await client.until(is_greeting)
    await client.send(text_data="thanks")  # thanks alone is not a goodbye
    thanked = await client.until(lambda m: is_answer(m) and m["payload"]["turn_id"] >= 2)
    assert thanked["payload"]["message"].startswith("You're welcome.")

    await client.send(text_data="No, that's everything. Thank you, goodbye.")
    output = await closed(client)
    assert output["code"] == 1000
    messages = client.messages
    exits = [m for m in messages if m.get("type") == "exit"]
    assert len(exits) == 1 and exits[0] is messages[-1]
    assert exits[0]["payload"]["message"] == "Thank you for calling. Goodbye."
    assert exits[0]["payload"]["type"] == "exit" and exits[0]["payload"]["reason"]
    farewell = next(m for m in reversed(messages) if is_answer(m))
    assert farewell["payload"]["message"] == "Thank you for calling. Goodbye."
    # The farewell was spoken (its audio went out) before the exit.
    audio = [m for m in messages if m.get("type") == "audio_data"]
    assert audio[-1]["turn_id"] == farewell["payload"]["turn_id"] and audio[-1]["is_final"]
    tool_end = next(m for m in messages if m.get("type") == "tool_end")
    assert (tool_end["tool"], tool_end["status"]) == ("end_call", "success")

    session = await ConversationSession.objects.aget(session_id="conv-bye-1")
    assert session.status == "completed" and session.ended_at is not None
    turns = [t async for t in Turn.objects.filter(session=session).order_by("index")]
    assert turns[-1].user_text == "No, that's everything. Thank you, goodbye."
    assert turns[-1].assistant_text == "Thank you for calling. Goodbye."


async def test_a_phone_calls_session_cannot_be_joined_from_the_browser(fake_speech, staff_user):
    from calls.services import call_simulated_create

    call_id, session_id = await sync_to_async(call_simulated_create)(streaming_mode="media")
    for user in (None, staff_user):
        client = await connect(f"?session_id={session_id}", user=user)
        code, reason = await refused(client)
        assert code == 4403 and "phone call" in reason


async def test_an_anonymous_session_is_resumed_only_with_its_token(fake_speech, user):
    visitor = await connect("?session_id=conv-taken-1")
    token = (await visitor.until(is_started))["payload"]["session_token"]
    assert len(token) >= 40
    await visitor.until(is_greeting)
    await visitor.send(text_data="I think my card was stolen")
    await visitor.until(lambda m: m.get("type") == "turn_metrics")
    await visitor.close()
    await sync_to_async(flush_blocking)()

    # Someone else who knows (or guessed) the id: no history, no conversation.
    for query, who in [
        ("?session_id=conv-taken-1", None),
        ("?session_id=conv-taken-1&session_token=" + "x" * 43, None),
        ("?session_id=conv-taken-1", user),
    ]:
        intruder = await connect(query, user=who)
        code, reason = await refused(intruder)
        assert code == 4403 and "another visitor" in reason
        assert not [m for m in intruder.messages if m.get("type") in ("assistant", "event")]

    back = await connect(f"?session_id=conv-taken-1&session_token={token}")
    ready = await back.until(lambda m: m["payload"].get("event") == "agent_ready")
    assert ready["payload"]["resumed"] is True and ready["payload"]["active_agent"] == "FraudAgent"
    await back.close()


async def test_new_session_ids_are_unguessable_and_the_token_goes_to_their_creator(
    fake_speech, user
):
    ids = set()
    for _ in range(2):
        client = await connect("")
        started = await client.until(is_started)
        assert re.fullmatch(r"session_[A-Za-z0-9_-]{24}", started["session_id"])
        assert started["payload"]["session_token"]
        ids.add(started["session_id"])
        await client.close()
    assert len(ids) == 2

    # A signed-in user's session is theirs by their account: no token is handed out.
    client = await connect("?session_id=conv-signed-in-1", user=user)
    assert "session_token" not in (await client.until(is_started))["payload"]
    await client.close()
    intruder = await connect("?session_id=conv-signed-in-1")
    assert await refused(intruder) == (4403, "This session belongs to another user.")


async def test_user_email_preloads_only_a_profile_of_the_visitors_own(fake_speech, api_client):
    """Naming someone's email does not tell the agent who they are, nor give their profile."""
    url = "/api/v1/demo-env/temporary-user"
    body = {"full_name": "Victim Person", "email": "victim@example.com", "session_id": "sess-v-1"}
    created = await sync_to_async(api_client.post)(url, body, format="json")
    token = created.json()["session_token"]

    other = await connect("?session_id=sess-intruder-1&user_email=victim@example.com")
    greeting = await other.until(is_greeting)
    assert "Victim" not in greeting["payload"]["message"]
    await other.close()

    own = await connect(f"?session_id=sess-v-1&session_token={token}&user_email=victim@example.com")
    assert (await own.until(is_greeting))["payload"]["message"].startswith("Hello Victim")
    await own.close()
