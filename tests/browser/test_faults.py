"""Faults at every stage of a conversation, through the browser socket: the recognizer failing
and never answering, the LLM raising, hanging, answering slowly and failing mid-tool, the TTS
raising and hanging. Each one is reported (an `error` envelope with its stage, a stored session
error), the caller hears an apology, and the conversation goes on to answer the next turn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentbuilder.services.library import library_load
from metrics.models import ConversationSession, SessionErrorRecord, Turn
from metrics.services import flush
from tests.browser.test_conversation_socket import connect, is_greeting, is_user_final

pytestmark = pytest.mark.django_db(transaction=True)

UNHEARD = "Sorry, I didn't catch that. Could you say it again?"
APOLOGY = "Sorry, I ran into a problem. Could you say that again?"
SPEECH = (np.sin(2 * np.pi * 300 * np.arange(320) / 16000) * 12000).astype("<i2").tobytes()


@pytest.fixture
def faulty_speech(settings):
    settings.SPEECH_PROVIDERS = {
        "stt": {
            "BACKEND": "media.providers.fakes.ScriptedSTT",
            "OPTIONS": {
                "script": ["please fail now", "please hang now", "tell me a joke"],
                "fail_on": "fail",
                "hang_on": "hang",
                "partial_every_frames": 0,  # a final that never comes leaves nothing heard
            },
        },
        "tts": {
            "BACKEND": "media.providers.fakes.FakeTTS",
            "OPTIONS": {"ms_per_char": 2, "fail_on": "Explode", "hang_on": "Stall"},
        },
        "llm": {
            "BACKEND": "media.providers.fakes.ScriptedLLM",
            "OPTIONS": {
                "script": [
                    [{"raise": "the model is down"}],  # "tell me a joke"
                    ["Let me", {"hang": True}],  # hangs mid-answer
                    [{"sleep_ms": 300}, "A slow but fine answer."],
                    [{"tool": "search_knowledge_base", "arguments": {"query": "hours"}}],
                    [{"raise": "the model dropped after the tool"}],  # ... the LLM fails
                    ["Explode, said the synthesizer."],
                    ["Stall, said the synthesizer."],
                    ["Still here."],
                ]
            },
        },
        "vad": {"BACKEND": "media.providers.fakes.EnergyVAD", "OPTIONS": {}},
    }
    settings.BROWSER_ALLOW_ANONYMOUS = True
    settings.LLM_TIMEOUT_S = 0.5
    settings.TTS_TIMEOUT_S = 0.5
    library_load()


async def _speak(client) -> None:
    for _ in range(25):
        await client.send(bytes_data=SPEECH)
    for _ in range(50):
        await client.send(bytes_data=bytes(640))


def _error(stage: str):
    return lambda m: m.get("type") == "error" and m["payload"].get("stage") == stage


def _said(text: str):
    """The agent's whole message (the `event` of type `assistant`) says `text`."""
    return lambda m: (
        m.get("type") == "event"
        and m["payload"].get("type") == "assistant"
        and text in m["payload"].get("message", "")
    )


async def _fault(client, stage: str, apology: str) -> None:
    """The fault is reported with its stage and the caller hears the apology, after it."""
    start = len(client.messages)
    error = await client.until(lambda m: client.messages.index(m) >= start and _error(stage)(m))
    assert error["payload"]["fatal"] is False
    await client.until(lambda m: client.messages.index(m) >= start and _said(apology)(m))
    del client.messages[:]


async def test_every_stage_fails_and_the_conversation_goes_on(faulty_speech):
    client = await connect("?session_id=conv-faults-1")
    await client.until(is_greeting)

    await _speak(client)  # the recognizer fails
    await _fault(client, "stt", UNHEARD)
    await _speak(client)  # the recognizer never answers
    await _fault(client, "stt", UNHEARD)
    await _speak(client)  # heard; the LLM raises
    final = await client.until(is_user_final)
    assert final["payload"]["message"] == "tell me a joke"
    await _fault(client, "llm", APOLOGY)

    for text, stage in [
        ("Are you there?", "llm"),  # the LLM hangs mid-answer
        ("Take your time.", None),  # slow, within the timeout
        ("When are you open?", "llm"),  # the tool runs; the LLM then fails
        ("Say something.", "tts"),  # the TTS raises
        ("Say more.", "tts"),  # the TTS hangs
    ]:
        await client.send(text_data=json.dumps({"type": "text", "text": text}))
        if text == "When are you open?":
            tool = await client.until(lambda m: m.get("type") == "tool_end")
            assert tool["tool"] == "search_knowledge_base" and tool["status"] == "success"
        if stage:
            await _fault(client, stage, APOLOGY)
        else:
            await client.until(_said("A slow but fine answer."))
            del client.messages[:]

    await client.send(text_data=json.dumps({"type": "text", "text": "Hello?"}))
    await client.until(_said("Still here."))
    await client.close()
    await flush()

    session = await ConversationSession.objects.aget(session_id="conv-faults-1")
    stages = [e.stage async for e in SessionErrorRecord.objects.filter(session=session)]
    assert stages == ["stt", "stt", "llm", "llm", "llm", "tts", "tts"]
    said = [t.user_text async for t in Turn.objects.filter(session=session).order_by("index")]
    typed = ["Are you there?", "Take your time.", "When are you open?", "Say something."]
    assert said[-7:] == ["tell me a joke", *typed, "Say more.", "Hello?"]
