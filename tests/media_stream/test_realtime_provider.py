"""The realtime (voice_live) provider against the fake realtime server, in both dialects."""

from __future__ import annotations

import asyncio

import pytest

from media.engine.audio import silence, tone
from media.engine.config import EngineConfig
from media.engine.events import (
    AgentChange,
    AssistantFinal,
    AudioFrame,
    BargeIn,
    ToolEnd,
    ToolStart,
    TurnMetrics,
    UserTranscript,
)
from media.providers.realtime import RealtimeEndpoint, RealtimeFactory, RealtimeStartError
from testing.fake_realtime import FakeRealtimeServer, Reply

SPEECH_16K = tone(400, 16000, 220.0, 0.5)
SILENCE_16K = silence(400, 16000)
FAST = EngineConfig(end_of_turn_silence_ms=200, pacing_speed=4.0, dtmf_flush_ms=100)


def endpoint_for(server: FakeRealtimeServer, provider: str, api_key: str = "k") -> RealtimeEndpoint:
    if provider == "azure_voice_live":
        return RealtimeEndpoint.from_options(
            provider=provider, endpoint=server.http_url, api_key=api_key, model="gpt-4o"
        )
    return RealtimeEndpoint.from_options(
        provider="openai",
        url=f"{server.http_url}/openai/v1/realtime",
        api_key=api_key,
        model="gpt-realtime",
    )


async def open_session(server, provider, roster, tool_runner, sink, **kwargs):
    factory = RealtimeFactory(endpoint_for(server, provider))
    session = factory.create(
        session_id="rt-1",
        roster=roster,
        tool_runner=tool_runner,
        emit=sink,
        output_sample_rate_hz=kwargs.pop("output_sample_rate_hz", 24000),
        config=kwargs.pop("config", FAST),
        **kwargs,
    )
    await session.start()
    return session


def created_items(conn) -> list[dict]:
    return [e["item"] for e in conn.received if e["type"] == "conversation.item.create"]


def speak(session, pcm=SPEECH_16K) -> None:
    session.push_audio(pcm, 16000)
    session.push_audio(SILENCE_16K, 16000)


@pytest.mark.parametrize("provider", ["azure_voice_live", "openai"])
async def test_session_update_carries_agent_in_the_dialect(provider, roster, tool_runner, sink):
    async with FakeRealtimeServer(api_key="k") as server:
        session = await open_session(server, provider, roster, tool_runner, sink)
        conn = server.connections[0]
        update = next(e for e in conn.received if e["type"] == "session.update")["session"]
        tools = {t["name"] for t in update["tools"]}
        assert tools == {"get_account_balance", "handoff_fraud_agent"}
        assert "bank concierge" in update["instructions"]
        if provider == "openai":
            assert conn.path == "/openai/v1/realtime"
            assert conn.query["model"] == "gpt-realtime"
            assert conn.headers["Authorization"] == "Bearer k"
            assert update["type"] == "realtime"
            assert update["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
            assert update["audio"]["output"]["voice"] == "alloy"  # Azure voices are Voice Live's
            # Azure-only turn detection and transcription become OpenAI's nearest.
            assert update["audio"]["input"]["turn_detection"] == {
                "type": "server_vad",
                "silence_duration_ms": 300,
            }
            assert update["audio"]["input"]["transcription"] == {
                "model": "whisper-1",
                "language": "en",
            }
        else:
            assert conn.path == "/voice-live/realtime"
            assert conn.query["model"] == "gpt-4o" and conn.headers["api-key"] == "k"
            assert update["voice"] == {
                "name": "en-US-AvaNeural",
                "type": "azure-standard",
                "rate": "1.10",
            }
            assert update["input_audio_format"] == "pcm16"
            assert update["turn_detection"]["type"] == "azure_semantic_vad"
            assert update["input_audio_transcription"]["model"] == "azure-speech"
        # The greeting is spoken as 24 kHz 20 ms frames and reported as said.
        final = await sink.wait_for(lambda: sink.of(AssistantFinal))
        assert final[0].text == "Hello, how can I help?" and final[0].is_greeting
        frames = sink.of(AudioFrame)
        assert frames and all(len(f.pcm) == 960 and f.sample_rate_hz == 24000 for f in frames)
        await session.close()


@pytest.mark.parametrize("provider", ["azure_voice_live", "openai"])
async def test_caller_speech_is_answered_with_audio(provider, roster, tool_runner, sink):
    transcripts = ["what are your opening hours"]
    async with FakeRealtimeServer(api_key="k", transcripts=transcripts) as server:
        session = await open_session(
            server, provider, roster, tool_runner, sink, output_sample_rate_hz=16000
        )
        await sink.wait_for(lambda: sink.of(AssistantFinal))
        speak(session)
        user = await sink.wait_for(lambda: [e for e in sink.of(UserTranscript) if e.is_final])
        assert user[0].text == "what are your opening hours" and user[0].source == "voice"
        finals = await sink.wait_for(lambda: sink.of(AssistantFinal)[1:])
        assert finals[0].text == "You said: what are your opening hours"
        assert finals[0].turn_id == user[0].turn_id
        answer_frames = [f for f in sink.of(AudioFrame) if f.turn_id == user[0].turn_id]
        # Resampled to the transport's 16 kHz, 20 ms each.
        assert answer_frames and all(len(f.pcm) == 640 for f in answer_frames)
        metrics = await sink.wait_for(lambda: sink.of(TurnMetrics)[1:])
        assert metrics[0].user_text == "what are your opening hours"
        assert metrics[0].first_audio_ms is not None and metrics[0].tokens_out > 0
        # The caller's audio reached the service resampled to 24 kHz.
        appended = [
            e for e in server.connections[0].received if e["type"] == "input_audio_buffer.append"
        ]
        assert appended
        assert session.history[-2:] == [
            {"role": "user", "content": "what are your opening hours"},
            {"role": "assistant", "content": "You said: what are your opening hours"},
        ]
        await session.close()


async def test_tools_run_locally_and_their_output_goes_back(roster, tool_runner, sink):
    async with FakeRealtimeServer(api_key="k", transcripts=["get my account balance"]) as server:
        session = await open_session(server, "azure_voice_live", roster, tool_runner, sink)
        await sink.wait_for(lambda: sink.of(AssistantFinal))
        speak(session)
        end = await sink.wait_for(lambda: sink.of(ToolEnd))
        assert end[0].tool == "get_account_balance" and end[0].status == "success"
        assert sink.of(ToolStart)[0].arguments == {"utterance": "get my account balance"}
        assert tool_runner.calls[0][0] == "get_account_balance"
        assert all(name.startswith("engine-worker") for name in tool_runner.threads)
        conn = server.connections[0]
        outputs = await sink.wait_for(lambda: conn.function_outputs)
        assert '"balance": "1234.56"' in outputs[0]["output"]
        finals = await sink.wait_for(lambda: sink.of(AssistantFinal)[1:])
        assert "1234.56" in finals[0].text
        assert session.tool_state["looked_up"] is True
        roles = [m["role"] for m in session.history]
        assert roles[-4:] == ["user", "assistant", "tool", "assistant"]
        await session.close()


async def test_handoff_updates_the_session_and_the_new_agent_greets(roster, tool_runner, sink):
    async with FakeRealtimeServer(api_key="k", transcripts=["handoff fraud agent"]) as server:
        session = await open_session(server, "azure_voice_live", roster, tool_runner, sink)
        await sink.wait_for(lambda: sink.of(AssistantFinal))
        speak(session)
        change = await sink.wait_for(lambda: sink.of(AgentChange))
        assert (change[0].previous_agent, change[0].agent) == ("Concierge", "Fraud")
        finals = await sink.wait_for(lambda: sink.of(AssistantFinal)[1:])
        assert finals[0].agent == "Fraud" and finals[0].text == "Fraud desk here."
        updates = [
            e["session"] for e in server.connections[0].received if e["type"] == "session.update"
        ]
        assert len(updates) == 2
        assert "You handle fraud reports." in updates[1]["instructions"]
        assert "transferred to you from Concierge" in updates[1]["instructions"]
        assert session.active_agent == "Fraud"
        assert not tool_runner.calls  # a handoff is not a tool the runner executes
        await session.close()


@pytest.mark.parametrize("provider", ["azure_voice_live", "openai"])
async def test_barge_in_stops_audio_and_truncates_at_the_played_position(
    provider, roster, tool_runner, sink
):
    long_answer = "This answer goes on and on " * 8

    def respond(conn, user_text):
        if conn.pending_instructions:
            return Reply(text="Hi.")
        return Reply(text=long_answer.strip())

    async with FakeRealtimeServer(api_key="k", respond=respond) as server:
        session = await open_session(
            server,
            provider,
            roster,
            tool_runner,
            sink,
            config=EngineConfig(end_of_turn_silence_ms=200),
        )
        await sink.wait_for(lambda: sink.of(AssistantFinal))
        speak(session)
        # Let some of the long answer play, then talk over it.
        await sink.wait_for(lambda: len([f for f in sink.of(AudioFrame) if f.turn_id > 1]) > 15)
        session.push_audio(SPEECH_16K, 16000)
        barge = await sink.wait_for(lambda: [b for b in sink.of(BargeIn) if b.turn_id > 1])
        cancelled = barge[0].turn_id
        await asyncio.sleep(0.3)
        after = sink.events[sink.events.index(barge[0]) + 1 :]
        assert not [e for e in after if type(e) is AudioFrame and e.turn_id == cancelled]
        conn = server.connections[0]
        truncs = await sink.wait_for(lambda: conn.truncations)
        played_ms = truncs[-1]["audio_end_ms"]
        total_ms = len(long_answer.strip()) * 55
        assert 0 < played_ms < total_ms
        final = [e for e in sink.of(AssistantFinal) if e.turn_id == cancelled][0]
        assert final.interrupted and 0 < len(final.text) < len(long_answer.strip())
        assert session.history[-1] == {"role": "assistant", "content": final.text}
        await session.close()


async def test_typed_text_and_dtmf_become_user_messages(roster, tool_runner, sink):
    async with FakeRealtimeServer(api_key="k") as server:
        session = await open_session(server, "openai", roster, tool_runner, sink)
        await sink.wait_for(lambda: sink.of(AssistantFinal))
        await session.send_text("hello there")
        session.push_dtmf("12")
        session.push_dtmf("34#")
        users = await sink.wait_for(lambda: sink.of(UserTranscript)[1:] and sink.of(UserTranscript))
        assert [(u.text, u.source) for u in users] == [("hello there", "text"), ("1234", "dtmf")]
        conn = server.connections[0]
        items = await sink.wait_for(lambda: created_items(conn)[1:] and created_items(conn))
        assert items[-1]["content"] == [{"type": "input_text", "text": "1234"}]
        await session.close()


async def test_resumed_session_replays_history_and_uses_return_greeting(roster, tool_runner, sink):
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    async with FakeRealtimeServer(api_key="k") as server:
        session = await open_session(
            server, "openai", roster, tool_runner, sink, history=history, resumed=True
        )
        final = await sink.wait_for(lambda: sink.of(AssistantFinal))
        assert final[0].text == "Welcome back."
        items = [
            e["item"]
            for e in server.connections[0].received
            if e["type"] == "conversation.item.create"
        ]
        assert items[1]["content"] == [{"type": "output_text", "text": "hello"}]  # GA name
        await session.close()


async def test_wrong_key_or_no_service_fails_to_start(roster, tool_runner, sink):
    async with FakeRealtimeServer(api_key="right") as server:
        factory = RealtimeFactory(endpoint_for(server, "azure_voice_live", api_key="wrong"))
        session = factory.create(session_id="x", roster=roster, tool_runner=tool_runner, emit=sink)
        with pytest.raises(RealtimeStartError, match="401"):
            await session.start()
        port = server.port
    factory = RealtimeFactory(
        RealtimeEndpoint.from_options(
            provider="azure_voice_live", endpoint=f"http://127.0.0.1:{port}", api_key="k"
        )
    )
    session = factory.create(session_id="y", roster=roster, tool_runner=tool_runner, emit=sink)
    with pytest.raises(RealtimeStartError, match="unreachable"):
        await session.start()
