"""PII said in a conversation never reaches stored transcripts, logs or the dashboard relay.

Through the real router: the browser conversation socket on fake speech providers, a staff
dashboard watching the session, and the shipped agents with their real verification tool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

import numpy as np
import pytest

from agentbuilder.models import Agent
from agentbuilder.services.demo import demo_user_create
from media.providers.fakes import ScriptedLLM
from metrics.models import ConversationSession, Turn
from metrics.services import flush
from tests.browser.conftest import open_socket
from tests.browser.test_conversation_socket import Client, is_greeting

pytestmark = pytest.mark.django_db(transaction=True)

SPOKEN_CARD = "four one one one one one one one one one one one one one one one"
TYPED = [
    "My card number is 5500 0000 0000 0004.",
    "My social security number is 123-45-6789.",
    "My account number is 98765432105.",
    "You can call me at (425) 555-0199.",
    "My email is jane.doe@example.com.",
]
VERIFY = "My name is Alice Johnson and the last four digits of my social are four eight one seven."
# Every value as said, and its digits.
SAID = [
    SPOKEN_CARD,
    "5500 0000 0000 0004",
    "123-45-6789",
    "98765432105",
    "(425) 555-0199",
    "jane.doe@example.com",
    "four eight one seven",
]
DIGITS = ["4111111111111111", "5500000000000004", "123456789", "4255550199", "4817"]


def leaked(text: str) -> list[str]:
    """The values of SAID/DIGITS found in `text` (digits on their own, not inside a longer
    number or an id, whatever their separators)."""
    found = [value for value in SAID if value.lower() in text.lower()]
    joined = re.sub(r"(?<=\d)[\s\-().,]+(?=\d)", "", text)
    found += [d for d in DIGITS if re.search(rf"(?<![\w.]){d}(?![\w])", joined)]
    return found


@pytest.fixture
def store_mode(settings, fake_speech):
    settings.PII_REDACTION = "store"
    settings.SPEECH_PROVIDERS["stt"]["OPTIONS"] = {"script": [f"my card number is {SPOKEN_CARD}"]}


async def _say(client: Client, pcm_frames: int = 40) -> None:
    t = np.arange(320) / 16000
    speech = (np.sin(2 * np.pi * 300 * t) * 12000).astype("<i2").tobytes()
    for _ in range(pcm_frames):
        await client.send(bytes_data=speech)
    for _ in range(50):
        await client.send(bytes_data=bytes(640))


async def _turn(client: Client, done: int) -> None:
    await client.until(
        lambda m: sum(x.get("type") == "turn_metrics" for x in client.messages) > done
    )


async def _watch(relay, messages: list) -> None:
    while True:
        output = await relay.receive_output(timeout=30)
        if output["type"] == "websocket.close":
            return
        messages.append(output["text"])


async def test_spoken_and_typed_pii_is_redacted_everywhere_but_the_tools_get_it(
    store_mode, user, staff_user, caplog
):
    caplog.set_level(logging.DEBUG)
    await demo_user_create_async()
    relay_messages: list[str] = []
    relay = await open_socket("/api/v1/browser/dashboard/relay?session_id=pii-1", user=staff_user)
    watcher = asyncio.create_task(_watch(relay, relay_messages))
    client = Client(await open_socket("/api/v1/browser/conversation?session_id=pii-1", user=user))
    await client.until(is_greeting)

    await _say(client)  # the recognizer writes the card number as words
    await _turn(client, 1)
    for i, text in enumerate([*TYPED, VERIFY], start=2):
        await client.send(text_data=text)
        await _turn(client, i)
    verified = await client.until(
        lambda m: m.get("type") == "tool_end" and m["tool"] == "verify_client_identity"
    )
    await client.close()
    await flush()
    await asyncio.sleep(0.3)  # the relay's last envelopes
    watcher.cancel()
    await relay.disconnect()

    # The real tool got the digits the caller said, before any redaction.
    assert verified["status"] == "success" and verified["result"]["verified"] is True, json.dumps(
        verified
    )
    session = await ConversationSession.objects.aget(session_id="pii-1")
    turns = [t async for t in Turn.objects.filter(session=session).order_by("index")]
    stored = [t.user_text for t in turns if t.user_text]
    assert len(stored) == 7
    assert "[card number]" in stored[0] and "[card number]" in stored[1]
    assert "[SSN]" in stored[2] and "[SSN]" in stored[6]
    assert "[account number]" in stored[3] and "[phone number]" in stored[4]
    assert "[email]" in stored[5]
    everything_stored = json.dumps(
        [[t.user_text, t.assistant_text, t.tool_calls] for t in turns] + [session.history]
    )
    assert leaked(everything_stored) == [], everything_stored
    assert relay_messages, "the dashboard saw nothing"
    assert leaked("\n".join(relay_messages)) == [], [m for m in relay_messages if leaked(m)]
    assert any("[SSN]" in m for m in relay_messages)
    assert leaked(caplog.text) == []


async def demo_user_create_async():
    from asgiref.sync import sync_to_async

    await sync_to_async(demo_user_create)(
        full_name="Alice Johnson", email="alice@example.com", codes={"ssn4": "4817"}
    )


async def test_an_agent_set_to_store_redacts_its_conversations_when_the_setting_is_off(
    fake_speech, settings, user
):
    settings.PII_REDACTION = "off"
    await Agent.objects.filter(name="FraudAgent").aupdate(pii_redaction="store")
    client = Client(await open_socket("/api/v1/browser/conversation?session_id=pii-2", user=user))
    await client.until(is_greeting)
    await client.send(text_data="My card number is 5500 0000 0000 0004.")
    await _turn(client, 1)
    await client.close()

    turn = await Turn.objects.filter(session__session_id="pii-2").exclude(user_text="").afirst()
    assert turn.user_text == "My card number is [card number]."


class RecordingLLM(ScriptedLLM):
    """An LLM that keeps every message it was sent and answers from placeholders it sees."""

    seen: list[dict] = []

    def __init__(self, **options):
        super().__init__(respond=self.answer, **options)

    @classmethod
    def answer(cls, request):
        cls.seen.extend(request.messages)
        last = request.messages[-1]
        if last["role"] == "tool":
            return ["Thank you, you are verified."]
        said = str(last.get("content") or "")
        if "[SSN 1]" in said:
            arguments = {"full_name": "Alice Johnson", "ssn_last_4": "[SSN 1]"}
            return [{"tool": "verify_client_identity", "arguments": arguments}]
        if "[card number 1]" in said:
            return ["I have your card [card number 1] on file."]
        return ["Go on."]


async def test_in_llm_mode_the_model_sees_placeholders_and_the_tools_the_values(
    fake_speech, settings, user
):
    settings.PII_REDACTION = "llm"
    settings.SPEECH_PROVIDERS["llm"] = {"BACKEND": f"{__name__}.RecordingLLM", "OPTIONS": {}}
    RecordingLLM.seen = []
    await demo_user_create_async()
    client = Client(await open_socket("/api/v1/browser/conversation?session_id=pii-3", user=user))
    await client.until(is_greeting)

    await client.send(text_data="My card number is 5500 0000 0000 0004.")
    answer = await client.until(
        lambda m: m.get("type") == "event" and "on file" in str(m["payload"].get("message"))
    )
    await client.send(text_data=VERIFY)
    verified = await client.until(
        lambda m: m.get("type") == "tool_end" and m["tool"] == "verify_client_identity"
    )
    await _turn(client, 2)
    await client.close()

    assert leaked(json.dumps(RecordingLLM.seen)) == []
    assert "[SSN 1]" in json.dumps(RecordingLLM.seen)
    assert verified["status"] == "success" and verified["result"]["verified"] is True, json.dumps(
        verified
    )
    # The caller hears their own number back; what is stored has none.
    assert answer["payload"]["message"] == "I have your card 5500000000000004 on file."
    turns = [t async for t in Turn.objects.filter(session__session_id="pii-3")]
    assert leaked(json.dumps([[t.user_text, t.assistant_text] for t in turns])) == []
    assert any(t.assistant_text == "I have your card [card number] on file." for t in turns)
