"""The conversation session with fake providers: turns, streaming, tools, handoffs, barge-in."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from media.engine.audio import silence, sound_end_ms_before, tone
from media.engine.config import EngineConfig
from media.engine.events import (
    AgentChange,
    AssistantDelta,
    AssistantFinal,
    AudioFrame,
    AudioPause,
    BargeIn,
    CallEnd,
    Event,
    SessionError,
    ToolEnd,
    ToolStart,
    TurnMetrics,
    UserTranscript,
)
from media.engine.session import SessionStartError
from media.engine.snapshot import AgentRoster, ToolSpec
from media.engine.tool_calls import DEFAULT_FAREWELL
from media.providers.fakes import EnergyVAD, FakeTTS, ScriptedLLM, ScriptedSTT
from tests.media.conftest import Harness, RecordingToolRunner, make_roster


async def greeted(h: Harness) -> None:
    await h.wait_event(AssistantFinal, is_greeting=True)


async def test_greeting_then_voice_turn_flow():
    stt = ScriptedSTT(["what is my balance"], partial_every_frames=5)
    llm = ScriptedLLM([["Your balance is fine. Anything else?"]])
    async with Harness(stt=stt, llm=llm) as h:
        await greeted(h)
        greeting = h.of(AssistantFinal)[0]
        assert greeting.text == "Hello, how can I help?" and greeting.turn_id == 1
        assert any(isinstance(e, AudioFrame) and e.turn_id == 1 for e in h.events)

        h.speak(400)
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.text == "what is my balance" and final.source == "voice"
        partials = [e for e in h.of(UserTranscript) if not e.is_final]
        assert partials and all(e.turn_id == final.turn_id for e in partials)

        answer = await h.wait_event(AssistantFinal, turn_id=final.turn_id)
        assert answer.text == "Your balance is fine. Anything else?"
        assert not answer.interrupted
        metrics = await h.wait_event(TurnMetrics, turn_id=final.turn_id)
        assert metrics.user_text == "what is my balance"
        assert metrics.first_audio_ms is not None and metrics.stt_final_ms is not None
        assert metrics.llm_ttft_ms is not None and metrics.tts_ttfb_ms is not None
        assert metrics.tokens_out > 0

        frames = [e for e in h.of(AudioFrame) if e.turn_id == final.turn_id]
        assert frames and all(len(f.pcm) == 640 and f.sample_rate_hz == 16000 for f in frames)
        assert [f.index for f in frames] == list(range(len(frames)))
        assert frames[-1].is_last
        # The audio leaves in order: no frame of the answer before the user's final transcript.
        assert h.events.index(frames[0]) > h.events.index(final)
        assert h.session.history[-2:] == [
            {"role": "user", "content": "what is my balance"},
            {"role": "assistant", "content": "Your balance is fine. Anything else?"},
        ]


async def test_output_resampled_to_transport_rate():
    tts = FakeTTS(sample_rate_hz=22050)
    async with Harness(tts=tts, output_sample_rate_hz=24000) as h:
        await greeted(h)
        frames = h.of(AudioFrame)
        assert frames and all(len(f.pcm) == 960 and f.sample_rate_hz == 24000 for f in frames)


async def test_24k_input_is_resampled_for_stt():
    stt = ScriptedSTT(["hello there"])
    async with Harness(stt=stt) as h:
        await greeted(h)
        from media.engine.audio import silence, tone

        h.session.push_audio(tone(400, 24000, 220.0, 0.5), sample_rate_hz=24000)
        h.session.push_audio(silence(600, 24000), sample_rate_hz=24000)
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.text == "hello there"


async def test_first_audio_before_llm_stream_ends():
    # 30 tokens at 20 ms each: the stream lasts 600 ms; the first clause is spoken long before.
    text = "Sure, let me explain. " + " ".join(f"word{i}" for i in range(28)) + "."
    llm = ScriptedLLM([[text]], token_delay_ms=20)
    async with Harness(llm=llm, config=EngineConfig(pacing_speed=1.0)) as h:
        await greeted(h)
        await h.session.send_text("explain please")
        turn_id = (await h.wait_event(UserTranscript, is_final=True)).turn_id
        first = await h.wait_for(
            lambda: next((e for e in h.of(AudioFrame) if e.turn_id == turn_id), None)
        )
        # When the first frame left, the LLM was still streaming (its last delta not yet out).
        deltas_before = [
            e
            for e in h.events[: h.events.index(first)]
            if isinstance(e, AssistantDelta) and e.turn_id == turn_id
        ]
        assert llm.finished_streams == 0
        assert "".join(d.text for d in deltas_before).startswith("Sure,")
        assert len(deltas_before) < 30
        await h.session.interrupt("test over")


async def test_typed_text_is_a_final_transcript():
    async with Harness() as h:
        await greeted(h)
        await h.session.send_text("  I typed this  ")
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.source == "text" and final.text == "I typed this"
        answer = await h.wait_event(AssistantFinal, turn_id=final.turn_id)
        assert answer.text == "You said: I typed this."


async def test_dtmf_digits_reach_the_agent_as_text():
    async with Harness() as h:
        await greeted(h)
        h.session.push_dtmf("12")
        h.session.push_dtmf("34#")
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.text == "1234" and final.source == "dtmf"
        assert (await h.wait_event(AssistantFinal, turn_id=final.turn_id)).text == "You said: 1234."


async def test_tool_loop_feeds_results_back():
    llm = ScriptedLLM(
        [
            [
                "Let me check.",
                {"tool": "get_account_balance", "arguments": {"account_id": "12345"}},
            ],
            ["Your balance is 42 dollars."],
        ]
    )
    tools = RecordingToolRunner({"get_account_balance": {"success": True, "balance": 42}})
    async with Harness(llm=llm, tool_runner=tools) as h:
        await greeted(h)
        await h.session.send_text("balance for 12345")
        end = await h.wait_event(ToolEnd)
        assert end.status == "success" and end.result["balance"] == 42
        start = h.of(ToolStart)[0]
        assert start.arguments == {"account_id": "12345"} and start.call_id == end.call_id
        answer = await h.wait_event(AssistantFinal, turn_id=end.turn_id)
        assert answer.text == "Let me check. Your balance is 42 dollars."
        streamed = "".join(d.text for d in h.of(AssistantDelta) if d.turn_id == end.turn_id)
        assert streamed == answer.text, "the streamed rounds read like the final text"
        assert tools.calls == [("get_account_balance", {"account_id": "12345"})]
        # The second LLM call saw the tool result.
        second = llm.requests[1].messages
        tool_msg = next(m for m in second if m.get("role") == "tool")
        assert json.loads(tool_msg["content"])["balance"] == 42
        assistant_call = next(m for m in second if m.get("tool_calls"))
        assert assistant_call["tool_calls"][0]["id"] == tool_msg["tool_call_id"]
        metrics = await h.wait_event(TurnMetrics, turn_id=end.turn_id)
        assert [t["name"] for t in metrics.tool_calls] == ["get_account_balance"]


async def test_tool_rounds_are_bounded():
    call = {"tool": "get_account_balance", "arguments": {"account_id": "1"}}
    llm = ScriptedLLM(respond=lambda request: [call])
    async with Harness(llm=llm, config=EngineConfig(pacing_speed=20.0, max_tool_rounds=3)) as h:
        await greeted(h)
        await h.session.send_text("loop forever")
        error = await h.wait_event(SessionError)
        assert error.stage == "llm" and "3 tool rounds" in error.message
        answer = await h.wait_event(AssistantFinal, turn_id=error.turn_id)
        assert answer.text == EngineConfig().apology_text
        assert len(llm.requests) == 3
        assert_history_consistent(h.session.history)


async def test_tool_timeout_reports_and_continues():
    llm = ScriptedLLM(
        [
            [{"tool": "get_account_balance", "arguments": {"account_id": "1"}}],
            ["Sorry, the lookup is slow."],
        ]
    )
    tools = RecordingToolRunner(delay_s=0.5)
    config = EngineConfig(pacing_speed=20.0, tool_timeout_s=0.05)
    async with Harness(llm=llm, tool_runner=tools, config=config) as h:
        await greeted(h)
        await h.session.send_text("balance")
        error = await h.wait_event(SessionError)
        assert error.stage == "tool" and error.session_id == "s1"
        end = await h.wait_event(ToolEnd)
        assert end.status == "error"
        answer = await h.wait_event(AssistantFinal, turn_id=end.turn_id)
        assert answer.text == "Sorry, the lookup is slow."


async def test_handoff_switches_agent_greets_and_answers_same_utterance():
    llm = ScriptedLLM(
        [
            [{"tool": "handoff_fraud_agent", "arguments": {"reason": "stolen card"}}],
            ["I have blocked your card."],
        ]
    )
    async with Harness(llm=llm) as h:
        await greeted(h)
        await h.session.send_text("my card was stolen")
        change = await h.wait_event(AgentChange)
        assert (change.previous_agent, change.agent, change.silent) == ("Concierge", "Fraud", False)
        assert change.reason == "stolen card"
        finals = await h.wait_for(
            lambda: (
                len([e for e in h.of(AssistantFinal) if e.turn_id == change.turn_id])
                and [e for e in h.of(AssistantFinal) if e.turn_id == change.turn_id]
            )
        )
        assert [(f.agent, f.text) for f in finals] == [
            ("Fraud", "Fraud desk here. I have blocked your card.")
        ]
        assert h.session.active_agent == "Fraud"
        # The new agent answered the same utterance, with the handoff context in its prompt.
        second = llm.requests[1]
        assert second.agent.name == "Fraud"
        assert second.handoff_context == {"reason": "stolen card"}
        assert "stolen card" in second.messages[0]["content"]
        assert any(m.get("content") == "my card was stolen" for m in second.messages)
        assert_history_consistent(h.session.history)
        end = h.of(ToolEnd)[0]
        assert end.result["target_agent"] == "Fraud" and end.status == "success"


async def test_silent_handoff_speaks_no_greeting():
    llm = ScriptedLLM([[{"tool": "handoff_quiet", "arguments": {}}], ["Quiet answer."]])
    async with Harness(llm=llm) as h:
        await greeted(h)
        await h.session.send_text("go quiet")
        change = await h.wait_event(AgentChange)
        assert change.silent
        answer = await h.wait_event(AssistantFinal, turn_id=change.turn_id)
        assert answer.text == "Quiet answer."
        assert not any("Should not be spoken" in (t or "") for t in h.providers.tts.texts)


async def test_resumed_session_uses_return_greeting_and_history():
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "before"}]
    async with Harness(history=history, active_agent="Fraud", resumed=True) as h:
        greeting = await h.wait_event(AssistantFinal, is_greeting=True)
        assert (greeting.agent, greeting.text) == ("Fraud", "Fraud desk again.")
        await h.session.send_text("again")
        await h.wait_event(AssistantFinal, count=2)
        messages = h.providers.llm.requests[0].messages
        assert messages[1:3] == history


def assert_history_consistent(history: list[dict]) -> None:
    """Every tool call has exactly one result, right after its assistant message."""
    call_ids = [c["id"] for m in history for c in m.get("tool_calls") or []]
    result_ids = [m["tool_call_id"] for m in history if m.get("role") == "tool"]
    assert sorted(call_ids) == sorted(result_ids)
    assert len(set(call_ids)) == len(call_ids)


# --- barge-in ---------------------------------------------------------------------------------

LONG_ANSWER = (
    "This is the first sentence of a long answer. This is the second sentence that keeps going. "
    "And here is a third sentence, with more words than anyone wants to hear."
)


async def test_barge_in_stops_audio_and_truncates_history():
    stt = ScriptedSTT(["tell me everything", "stop"])
    llm = ScriptedLLM([[LONG_ANSWER]])
    config = EngineConfig(pacing_speed=1.0)
    async with Harness(stt=stt, llm=llm, config=config) as h:
        await h.session.interrupt("skip greeting")
        h.speak(300)
        final = await h.wait_event(UserTranscript, is_final=True, text="tell me everything")
        turn_id = final.turn_id
        # Let about a second of the answer play.
        await h.wait_for(lambda: len([e for e in h.of(AudioFrame) if e.turn_id == turn_id]) >= 40)
        h.speak(200, silence_ms=0)
        stop = await h.wait_event(BargeIn, turn_id=turn_id)
        assert stop.reason == "barge_in" and stop.reaction_ms >= 0
        answer = await h.wait_event(AssistantFinal, turn_id=turn_id)
        assert answer.interrupted
        assert answer.text and LONG_ANSWER.startswith(answer.text)
        assert len(answer.text) < len(LONG_ANSWER)
        assistant = [m for m in h.session.history if m.get("role") == "assistant"]
        assert assistant[-1]["content"] == answer.text
        metrics = await h.wait_event(TurnMetrics, turn_id=turn_id)
        assert metrics.interrupted and metrics.barge_in_ms is not None
        assert metrics.assistant_text == answer.text  # what was played, as stored
        # Keep pushing time forward: no frame of the cancelled turn may follow the stop.
        await asyncio.sleep(0.2)
        assert h.stale_audio_after_barge_in() == []
        assert h.session.turn_id > turn_id
        assert h.providers.llm.cancels >= 1 and h.providers.tts.cancels >= 1
        # The caller's new utterance becomes the next turn.
        h.speak(0, silence_ms=520)
        nxt = await h.wait_event(UserTranscript, is_final=True, text="stop")
        assert nxt.turn_id == turn_id + 1


async def test_speech_over_the_agent_pauses_it_at_once_then_barges_in():
    stt = ScriptedSTT(["tell me everything", "stop"])
    llm = ScriptedLLM([[LONG_ANSWER]])
    async with Harness(stt=stt, llm=llm, config=EngineConfig(pacing_speed=1.0)) as h:
        await h.session.interrupt("skip greeting")
        h.speak(300)
        final = await h.wait_event(UserTranscript, is_final=True, text="tell me everything")
        turn_id = final.turn_id
        await h.wait_for(lambda: len([e for e in h.of(AudioFrame) if e.turn_id == turn_id]) >= 25)
        h.speak(20, silence_ms=0)
        await asyncio.sleep(0.02)
        h.speak(20, silence_ms=0)  # 40 ms of speech: the pause gate, not yet a barge-in
        pause = await h.wait_event(AudioPause, turn_id=turn_id)
        sent = len([e for e in h.of(AudioFrame) if e.turn_id == turn_id])
        assert pause.reason == "speech_onset" and pause.reaction_ms >= 0
        assert not [e for e in h.of(BargeIn) if e.turn_id == turn_id]
        await asyncio.sleep(0.4)
        assert h.audio_after(pause) == []  # nothing is sent while the caller may be talking
        h.speak(100, silence_ms=0)  # 140 ms: the caller is taking the turn
        stop = await h.wait_event(BargeIn, turn_id=turn_id)
        assert h.audio_after(pause) == []
        answer = await h.wait_event(AssistantFinal, turn_id=turn_id)
        assert answer.interrupted and LONG_ANSWER.startswith(answer.text)
        # What was heard ends at the pause, not at the barge-in 0.4 s later: the first
        # sentence (8 words, 44 characters at 40 ms: 88 frames) was heard up to the frames
        # sent by then (less the lead taken back).
        assert 0 < len(answer.text.split()) <= round(8 * sent / 88)
        assert h.session.history[-1] == {"role": "assistant", "content": answer.text}
        # The turn's barge-in latency runs from the first speech frame (20 ms before the
        # frame that passed the pause gate) to the pause, not from the cancel 0.4 s later.
        metrics = await h.wait_event(TurnMetrics, turn_id=turn_id)
        assert 15 <= metrics.barge_in_ms < 400
        await asyncio.sleep(0.1)
        assert h.stale_audio_after_barge_in() == []
        assert h.events.index(pause) < h.events.index(stop)


async def test_a_click_pauses_the_agent_which_then_plays_on_with_nothing_lost():
    async with Harness(config=EngineConfig(pacing_speed=1.0)) as h:
        await h.wait_for(lambda: len(h.of(AudioFrame)) >= 8)  # the greeting is playing
        h.speak(40, silence_ms=0)  # a click
        pause = await h.wait_event(AudioPause, turn_id=1)
        sent = [f.index for f in h.of(AudioFrame)]
        await asyncio.sleep(0.1)
        assert h.audio_after(pause) == []
        h.speak(0, silence_ms=200)  # silence: it was not the caller taking the turn
        greeting = await h.wait_event(AssistantFinal, turn_id=1)
        assert not greeting.interrupted and greeting.text == "Hello, how can I help?"
        assert not h.of(BargeIn)
        resumed = [f.index for f in h.audio_after(pause)]
        lead = EngineConfig().output_lead_ms // 20
        # Playback goes on from where the listener stopped hearing: the frames sent but not
        # yet played when the transport flushed them are sent again, then the rest, in order.
        assert sent[-1] - lead - 1 <= resumed[0] <= sent[-1]
        assert resumed == list(range(resumed[0], resumed[0] + len(resumed)))
        assert h.of(AudioFrame)[-1].is_last
        assert h.session.history[-1] == {"role": "assistant", "content": greeting.text}


async def test_closing_mid_answer_keeps_the_turn_as_heard():
    llm = ScriptedLLM([[LONG_ANSWER]])
    async with Harness(llm=llm, config=EngineConfig(pacing_speed=1.0)) as h:
        await greeted(h)
        await h.session.send_text("tell me everything")
        await h.wait_for(lambda: len([e for e in h.of(AudioFrame) if e.turn_id == 2]) >= 20)
        await h.session.close()
        answer = await h.wait_event(AssistantFinal, turn_id=2)
        metrics = await h.wait_event(TurnMetrics, turn_id=2)
        assert answer.interrupted and metrics.interrupted
        assert metrics.user_text == "tell me everything"
        assert answer.text and LONG_ANSWER.startswith(answer.text) and answer.text != LONG_ANSWER
        assert metrics.assistant_text == answer.text
        assert h.session.history[-2:] == [
            {"role": "user", "content": "tell me everything"},
            {"role": "assistant", "content": answer.text},
        ]


async def test_barge_in_needs_minimum_speech():
    llm = ScriptedLLM([[LONG_ANSWER]])
    async with Harness(llm=llm, config=EngineConfig(pacing_speed=1.0)) as h:
        await h.wait_for(lambda: h.of(AudioFrame))
        h.speak(60, silence_ms=40)  # a click: shorter than the 120 ms gate
        await asyncio.sleep(0.05)
        assert not h.of(BargeIn)
        h.speak(140, silence_ms=0)
        await h.wait_event(BargeIn)


async def test_barge_in_with_async_emit_drops_queued_audio():
    llm = ScriptedLLM([[LONG_ANSWER]])
    async with Harness(llm=llm, async_emit=True, config=EngineConfig(pacing_speed=2.0)) as h:
        await h.wait_for(lambda: len(h.of(AudioFrame)) >= 5)
        await h.session.interrupt("stop button")
        stop = await h.wait_event(BargeIn)
        assert stop.reason == "stop button"
        await asyncio.sleep(0.1)
        assert h.stale_audio_after_barge_in() == []


async def test_barge_in_during_tool_call_keeps_history_consistent():
    llm = ScriptedLLM([[{"tool": "get_account_balance", "arguments": {"account_id": "9"}}]])
    tools = RecordingToolRunner(delay_s=0.3)
    async with Harness(llm=llm, tool_runner=tools) as h:
        await greeted(h)
        await h.session.send_text("balance please")
        start = await h.wait_event(ToolStart)
        await h.session.send_text("actually never mind")
        stop = await h.wait_event(BargeIn, turn_id=start.turn_id)
        assert stop.reason == "user_text"
        end = await h.wait_event(ToolEnd, call_id=start.call_id)
        assert end.status == "cancelled"
        assert_history_consistent(h.session.history)
        result = next(m for m in h.session.history if m.get("tool_call_id") == start.call_id)
        assert json.loads(result["content"])["status"] == "cancelled"
        # The next turn goes on; the tool's late result is recorded when it finishes.
        await h.wait_event(AssistantFinal, text="You said: actually never mind.")
        await h.wait_for(lambda: "completed_after_interruption" in result["content"], timeout_s=2)
        assert_history_consistent(h.session.history)
        # The interrupted turn's LLM was not called again with the (cancelled) result.
        assert len(llm.requests) == 2


# --- failures ---------------------------------------------------------------------------------


async def test_llm_error_apologises_and_session_goes_on():
    llm = ScriptedLLM([[{"raise": "boom"}], ["Back to normal."]])
    async with Harness(llm=llm) as h:
        await greeted(h)
        await h.session.send_text("first")
        error = await h.wait_event(SessionError)
        assert (error.stage, error.session_id, error.fatal) == ("llm", "s1", False)
        assert "boom" in error.message
        apology = await h.wait_event(AssistantFinal, turn_id=error.turn_id)
        assert apology.text == EngineConfig().apology_text
        assert any(e.turn_id == error.turn_id for e in h.of(AudioFrame))
        await h.session.send_text("second")
        assert (await h.wait_event(AssistantFinal, text="Back to normal.")).turn_id > error.turn_id


async def test_llm_timeout_apologises():
    llm = ScriptedLLM([[{"hang": True}]])
    config = EngineConfig(pacing_speed=20.0, llm_first_token_timeout_s=0.05)
    async with Harness(llm=llm, config=config) as h:
        await greeted(h)
        await h.session.send_text("hello")
        error = await h.wait_event(SessionError)
        assert error.stage == "llm" and "timed out" in error.message
        await h.wait_event(AssistantFinal, text=config.apology_text)


async def test_tts_error_and_timeout_report_and_continue():
    tts = FakeTTS(fail_on="explode", hang_on="forever")
    llm = ScriptedLLM([["This will explode."], ["This takes forever."], ["Fine now."]])
    config = EngineConfig(pacing_speed=20.0, tts_timeout_s=0.05)
    async with Harness(tts=tts, llm=llm, config=config) as h:
        await greeted(h)
        await h.session.send_text("one")
        error = await h.wait_event(SessionError)
        assert error.stage == "tts"
        await h.wait_event(AssistantFinal, turn_id=error.turn_id)
        # The apology was spoken by the same TTS after the failure.
        assert tts.texts[-1] == config.apology_text
        assert any(e.turn_id == error.turn_id for e in h.of(AudioFrame))
        await h.session.send_text("two")
        timeout = await h.wait_event(SessionError, count=2)
        assert timeout.stage == "tts" and "timed out" in timeout.message
        await h.session.send_text("three")
        await h.wait_event(AssistantFinal, text="Fine now.")


async def test_provider_that_cannot_start_fails_start_clearly():
    h = Harness(stt=ScriptedSTT(fail_start=True))
    with pytest.raises(SessionStartError, match="stt provider ScriptedSTT could not start"):
        await h.session.start()


async def test_parallel_sessions_one_blocking_provider_does_not_delay_the_other():
    slow = Harness(tts=FakeTTS(block_ms=1500), session_id="slow")
    fast = Harness(session_id="fast")
    async with slow, fast:
        await fast.wait_event(AssistantFinal, is_greeting=True)
        for i in range(3):
            await fast.session.send_text(f"message {i}")
            await fast.wait_event(AssistantFinal, text=f"You said: message {i}.")
        # The slow session's greeting is still stuck in its blocking TTS call.
        assert not slow.of(AudioFrame)
        assert all(e.session_id == "fast" for e in fast.events)
        await slow.wait_event(AssistantFinal, is_greeting=True, timeout_s=5)


def test_the_end_of_a_sound_is_placed_within_its_frames():
    speech = tone(70, 16000, 220.0, 0.5)
    frames = [(speech + silence(90, 16000))[i : i + 640] for i in range(0, 5120, 640)]
    assert sound_end_ms_before(frames) == 90.0
    assert sound_end_ms_before(frames[:3]) == 0.0  # still sounding at the end
    assert sound_end_ms_before([silence(20, 16000)] * 4) is None


async def test_end_of_speech_is_where_the_sound_stopped_not_where_the_vad_let_go():
    """A VAD holds on to speech for a few frames after it ends (here: a quiet tail the VAD
    still counts); the turn's end of speech, from which its latencies run, is the end of the
    sound, as the caller's own recording places it."""
    vad = EnergyVAD(threshold_dbfs=-70.0)  # hears the -55 dBFS tail as speech
    stt = ScriptedSTT(["hello"])
    async with Harness(stt=stt, vad=vad, config=EngineConfig(speculative_silence_ms=0)) as h:
        await greeted(h)
        await h.wait_for(lambda: not h.session.agent_speaking)
        h.speak(200, silence_ms=0)
        for _ in range(4):  # 80 ms of tail
            h.session.push_audio(tone(20, 16000, 220.0, 10 ** (-55 / 20)))
        last_speech_at = h.session.utterance.last_speech_at
        h.speak(0, silence_ms=60)
        assert h.session.utterance.speech_end_at == pytest.approx(last_speech_at - 0.08, abs=1e-6)


# --- the agent ends the call ------------------------------------------------------------------

END_CALL = ToolSpec(
    name="end_call",
    description="End the call when the caller says goodbye.",
    parameters={"type": "object", "properties": {"reason": {"type": "string"}}},
    ends_call=True,
)


def ending_roster() -> AgentRoster:
    roster = make_roster()
    concierge = roster.get("Concierge")
    agents = {**roster.agents, "Concierge": replace(concierge, tools=(*concierge.tools, END_CALL))}
    return AgentRoster(agents=agents, entry_agent="Concierge")


def record_playback(h: Harness) -> list[tuple[Event, bool]]:
    """Every event as the transport gets it, with whether agent audio was still playing."""
    seen: list[tuple[Event, bool]] = []
    deliver = h.session.emitter._emit

    def emit(event: Event) -> Any:
        seen.append((event, h.session.pacer.is_playing()))
        return deliver(event)

    h.session.emitter._emit = emit
    return seen


@pytest.mark.parametrize(
    ("answer", "farewell"),
    [
        ([{"tool": "end_call", "arguments": {"reason": "the caller said goodbye"}}], None),
        (["Thanks for banking with us, goodbye!", {"tool": "end_call", "arguments": {}}],
         "Thanks for banking with us, goodbye!"),
    ],
)  # fmt: skip
async def test_end_call_says_the_farewell_then_ends_the_call_once_it_was_heard(answer, farewell):
    farewell = farewell or DEFAULT_FAREWELL
    llm = ScriptedLLM([answer])
    async with Harness(llm=llm, roster=ending_roster(), config=EngineConfig(pacing_speed=4.0)) as h:
        seen = record_playback(h)
        await greeted(h)
        await h.session.send_text("No, that's everything. Thank you, goodbye.")
        turn_id = (await h.wait_event(UserTranscript, is_final=True)).turn_id
        end = await h.wait_event(CallEnd)
        assert (end.turn_id, end.farewell) == (turn_id, farewell)
        assert end.reason == (answer[-1]["arguments"].get("reason") or "the caller said goodbye")
        said = next(e for e in h.of(AssistantFinal) if e.turn_id == turn_id)
        assert said.text == farewell and not said.interrupted
        tool_end = next(e for e in h.of(ToolEnd) if e.tool == "end_call")
        assert tool_end.status == "success" and tool_end.result["ends_call"] is True
        # The farewell's audio, its answer and metrics, then the end, with nothing playing.
        order = [e for e, _ in seen]
        frames = [e for e in order if isinstance(e, AudioFrame) and e.turn_id == turn_id]
        assert frames and frames[-1].is_last
        metrics = next(e for e in order if isinstance(e, TurnMetrics) and e.turn_id == turn_id)
        assert order.index(frames[-1]) < order.index(metrics) < order.index(end)
        assert order[-1] is end and [playing for e, playing in seen if e is end] == [False]
        assert len(llm.requests) == 1  # the farewell is the turn's last word
        assert h.tools.calls == []  # the engine ends the call itself
        assert h.providers.tts.texts.count(DEFAULT_FAREWELL) == (farewell == DEFAULT_FAREWELL)
        assert_history_consistent(h.session.history)
        assert [m["content"] for m in h.session.history if m["role"] == "assistant"][-1] == (
            farewell
        )


# A 60 ms lead: the caller speaks while the farewell is still being sent. 5 s: all of it was
# sent at once (the turn is over) and the caller speaks while the client still plays it.
@pytest.mark.parametrize("lead_ms", [60, 5000])
async def test_speaking_over_the_farewell_keeps_the_call_going(lead_ms):
    stt = ScriptedSTT(["wait one more thing"])
    farewell = "Thank you for calling, it was a pleasure to help you today. Goodbye and take care."
    llm = ScriptedLLM([[farewell, {"tool": "end_call", "arguments": {}}], ["Of course, go on."]])
    config = EngineConfig(pacing_speed=1.0, output_lead_ms=lead_ms)
    async with Harness(stt=stt, llm=llm, roster=ending_roster(), config=config) as h:
        await greeted(h)
        await h.wait_for(lambda: not h.session.pacer.is_playing())
        await h.session.send_text("that's all, bye")
        turn_id = (await h.wait_event(UserTranscript, is_final=True)).turn_id
        await h.wait_for(lambda: len([e for e in h.of(AudioFrame) if e.turn_id == turn_id]) >= 10)
        if lead_ms > 60:
            metrics = await h.wait_event(TurnMetrics, turn_id=turn_id)
            assert not metrics.interrupted and h.session.pacer.is_playing()
        heard_by = h.session.pacer.playing_until  # when the farewell would have been heard
        h.speak(200, silence_ms=0)  # the caller had more to say
        stop = await h.wait_event(BargeIn, turn_id=turn_id)
        said = await h.wait_event(AssistantFinal, turn_id=turn_id)
        assert said.interrupted == (lead_ms == 60)
        h.speak(0, silence_ms=520)
        final = await h.wait_event(UserTranscript, is_final=True, text="wait one more thing")
        answer = await h.wait_event(AssistantFinal, turn_id=final.turn_id)
        assert answer.text == "Of course, go on." and final.turn_id > stop.turn_id
        await h.wait_for(lambda: not h.session.pacer.is_playing())
        await asyncio.sleep(max(0.0, heard_by - asyncio.get_running_loop().time()) + 0.1)
        assert not h.of(CallEnd)
        assert h.stale_audio_after_barge_in() == []
        assert_history_consistent(h.session.history)
