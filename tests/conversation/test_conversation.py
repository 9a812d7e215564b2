"""The conversation glue: roster from the database, persistence, resume, dashboard relay."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from agentbuilder.services.library import library_load
from browser.relay import DASHBOARD_GROUP
from media.conversation import Conversation, ConversationStartError
from media.engine.config import EngineConfig
from media.engine.events import AssistantFinal, AudioFrame, TurnMetrics
from media.speech import configure_tts_pool
from metrics.models import ConversationSession, Turn

pytestmark = pytest.mark.django_db(transaction=True)

FAST = EngineConfig(pacing_speed=50.0, end_of_turn_silence_ms=200)


@pytest.fixture
def fake_speech(settings):
    settings.SPEECH_PROVIDERS = {
        "stt": {"BACKEND": "media.providers.fakes.ScriptedSTT", "OPTIONS": {}},
        "tts": {"BACKEND": "media.providers.fakes.FakeTTS", "OPTIONS": {"ms_per_char": 5}},
        "llm": {"BACKEND": "media.providers.rules.RulesDialogueEngine", "OPTIONS": {}},
        "vad": {"BACKEND": "media.providers.fakes.EnergyVAD", "OPTIONS": {}},
    }
    library_load()


class Sink:
    def __init__(self):
        self.events = []
        self.arrived = asyncio.Event()

    async def __call__(self, event):
        self.events.append(event)
        self.arrived.set()

    def of(self, kind):
        return [e for e in self.events if type(e) is kind]

    async def wait_for(self, predicate, timeout_s=10.0):
        async def poll():
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(poll(), timeout_s)


async def _open(session_id, sink):
    return await Conversation.open(
        session_id=session_id,
        transport="browser",
        emit=sink,
        output_sample_rate_hz=16000,
        streaming_mode="realtime",
        config=FAST,
    )


async def test_a_conversation_greets_answers_persists_and_relays(fake_speech):
    layer = get_channel_layer()
    dashboard = await layer.new_channel()
    await layer.group_add(DASHBOARD_GROUP, dashboard)
    pool = configure_tts_pool()
    before = pool.snapshot()
    sink = Sink()
    conversation = await _open("glue-1", sink)
    assert pool.snapshot().active_sessions == before.active_sessions + 1
    assert conversation.resumed is False
    assert conversation.active_agent == "Concierge"
    await sink.wait_for(lambda: any(e.is_greeting for e in sink.of(AssistantFinal)))
    await conversation.send_text("What can you help me with?")
    await sink.wait_for(lambda: any(m.user_text for m in sink.of(TurnMetrics)))
    assert sink.of(AudioFrame), "the agent's answer was spoken"
    await conversation.close()
    after = pool.snapshot()
    assert after.active_sessions == before.active_sessions, "the synthesizer went back"
    assert after.allocations_total == before.allocations_total + 1

    session = await ConversationSession.objects.aget(session_id="glue-1")
    assert session.status == "completed"
    assert session.active_agent == "Concierge"
    assert any(m.get("role") == "user" for m in session.history)
    turns = [t async for t in Turn.objects.filter(session=session)]
    assert [t.user_text for t in turns if t.user_text] == ["What can you help me with?"]
    assert all(t.first_audio_ms is not None for t in turns)

    relayed = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(dashboard), 0.5)
        except TimeoutError:
            break
        relayed.append(message["envelope"])
    kinds = {e.get("type") for e in relayed}
    assert "audio_data" not in kinds, "audio is never relayed to dashboards"
    payload_types = {(e.get("payload") or {}).get("type") for e in relayed}
    assert {"agent_inventory", "user", "assistant"} <= payload_types


async def test_reconnecting_with_the_same_session_resumes_with_the_return_greeting(fake_speech):
    sink = Sink()
    first = await _open("glue-2", sink)
    await first.send_text("Hello there")
    await sink.wait_for(lambda: any(m.user_text for m in sink.of(TurnMetrics)))
    await first.close()

    again = Sink()
    second = await _open("glue-2", again)
    assert second.resumed is True
    await again.wait_for(lambda: any(e.is_greeting for e in again.of(AssistantFinal)))
    greeting = next(e for e in again.of(AssistantFinal) if e.is_greeting)
    first_greeting = next(e for e in sink.of(AssistantFinal) if e.is_greeting)
    assert greeting.text != first_greeting.text
    await second.close()


async def test_a_provider_that_cannot_start_fails_the_open_with_its_name(fake_speech, settings):
    settings.SPEECH_PROVIDERS = {
        **settings.SPEECH_PROVIDERS,
        "stt": {"BACKEND": "media.providers.fakes.ScriptedSTT", "OPTIONS": {"fail_start": True}},
    }
    with pytest.raises(ConversationStartError, match="ScriptedSTT"):
        await _open("glue-3", Sink())
    session = await ConversationSession.objects.aget(session_id="glue-3")
    assert session.status == "failed"


async def test_the_next_callers_greeting_comes_from_the_phrase_cache(fake_speech, settings):
    from media.providers.phrase_cache import phrase_cache

    settings.TTS_PHRASE_CACHE_MB = 7  # a cache of its own for this test
    cache = phrase_cache(7 * 1024 * 1024)
    greetings = []
    for session_id in ("cache-1", "cache-2"):
        sink = Sink()
        conversation = await _open(session_id, sink)
        await sink.wait_for(lambda: any(e.is_greeting for e in sink.of(AssistantFinal)))  # noqa: B023
        greetings.append(b"".join(e.pcm for e in sink.of(AudioFrame)))
        await conversation.close()
    assert (cache.misses, cache.hits) == (1, 1)  # the second greeting was not synthesized
    assert greetings[0] == greetings[1] and greetings[0]


async def test_greetings_synthesized_at_start_up_serve_the_first_caller(fake_speech, settings):
    from asgiref.sync import sync_to_async

    from media.conversation import phrase_cache_warm
    from media.providers.phrase_cache import phrase_cache

    settings.TTS_PHRASE_CACHE_MB = 5  # a cache of its own for this test
    cache = phrase_cache(5 * 1024 * 1024)
    warmed = await sync_to_async(phrase_cache_warm, thread_sensitive=False)()
    assert warmed >= 7 and len(cache) == warmed  # every shipped agent's greetings
    sink = Sink()
    conversation = await _open("warm-1", sink)
    await sink.wait_for(lambda: any(e.is_greeting for e in sink.of(AssistantFinal)))
    await conversation.close()
    assert cache.hits == 1 and cache.misses == warmed  # the caller's greeting was ready


async def test_the_recognizer_hears_the_active_customers_names_as_hints(fake_speech):
    """The identity check verifies the active demo customers: their names, newest first, are
    what the conversation's recognizer is told to expect; an expired profile's is not."""
    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from agentbuilder.models import DemoUser
    from agentbuilder.services import demo_user_create

    @sync_to_async
    def customers():
        demo_user_create(full_name="Sarah Wilson", email="sarah@example.com")
        demo_user_create(full_name="David Brown", email="david@example.com")
        gone = demo_user_create(full_name="Olga Expired", email="olga@example.com").user
        DemoUser.objects.filter(pk=gone.pk).update(expires_at=timezone.now())

    await customers()
    conversation = await _open("glue-hints", Sink())
    try:
        assert conversation._engine.providers.stt.phrases == ["David Brown", "Sarah Wilson"]
    finally:
        await conversation.close()
