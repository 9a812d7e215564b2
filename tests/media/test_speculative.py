"""Speculative end of turn: the answer is prepared during the caller's pause and held.

Defaults: the answer is prepared after 200 ms of silence and released at 400 ms. Frames are
pushed synchronously, so "released at once" is checked as "present when push_audio returns".
"""

from __future__ import annotations

import asyncio

from media.engine.audio import resample, rms_dbfs, silence
from media.engine.config import EngineConfig
from media.engine.events import (
    AssistantDelta,
    AssistantFinal,
    AudioFrame,
    BargeIn,
    SessionError,
    ToolEnd,
    ToolStart,
    TurnMetrics,
    UserTranscript,
)
from media.engine.history import last_user_text
from media.providers import DEFAULT_PROVIDERS, build_providers
from media.providers.fakes import FakeTTS, ScriptedLLM, ScriptedSTT
from tests.media.conftest import SILENT_FRAME, SPEECH_FRAME, Harness, RecordingToolRunner
from tests.media.test_session import assert_history_consistent

CONFIG = EngineConfig(pacing_speed=20.0)
SPEC_FRAMES = CONFIG.speculative_silence_ms // 20
EOT_FRAMES = CONFIG.end_of_turn_silence_ms // 20


def push(h: Harness, frame: bytes, ms: int) -> None:
    for _ in range(ms // 20):
        h.session.push_audio(frame)


async def greeted_and_quiet(h: Harness) -> int:
    """Wait for the greeting to finish; returns the number of events so far."""
    await h.wait_event(AssistantFinal, is_greeting=True)
    await h.wait_for(lambda: not h.session.agent_speaking)
    return len(h.events)


async def settle() -> None:
    """Let the held turn's tasks run as far as they can."""
    for _ in range(20):
        await asyncio.sleep(0.005)


async def test_speculative_turn_is_held_then_released_at_end_of_turn():
    stt = ScriptedSTT(["what is my balance"], partial_every_frames=0)
    llm = ScriptedLLM([["Your balance is fine."]])
    tts = FakeTTS()
    async with Harness(stt=stt, llm=llm, tts=tts, config=CONFIG) as h:
        before = await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 400)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        # The answer is computed during the pause ...
        await h.wait_for(lambda: "Your balance is fine." in tts.texts)
        await settle()
        assert stt.peeks == 1 and llm.finished_streams == 1  # the greeting is no LLM call
        # ... and nothing of it is out: no transcript, no text, no audio, no history.
        assert h.events[before:] == []
        assert h.session.history[-1]["content"] == "Hello, how can I help?"

        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms - CONFIG.speculative_silence_ms)
        # Released in the same tick as the frame that confirmed the end of turn.
        new = h.events[before:]
        assert isinstance(new[0], UserTranscript) and new[0].is_final
        assert new[0].text == "what is my balance"
        turn_id = new[0].turn_id
        assert any(isinstance(e, AssistantDelta) for e in new)
        assert any(isinstance(e, AudioFrame) and e.turn_id == turn_id for e in new)

        answer = await h.wait_event(AssistantFinal, turn_id=turn_id)
        assert answer.text == "Your balance is fine." and not answer.interrupted
        metrics = await h.wait_event(TurnMetrics, turn_id=turn_id)
        assert metrics.first_audio_ms is not None and metrics.stt_final_ms is not None
        assert h.session.history[-2:] == [
            {"role": "user", "content": "what is my balance"},
            {"role": "assistant", "content": "Your balance is fine."},
        ]
        assert stt.utterances == 1 and stt.resumes == 0


async def test_released_turn_is_barged_in_like_any_other():
    answer = "This is a long answer that goes on. And on, and on, for quite a while longer."
    stt = ScriptedSTT(["tell me everything"], partial_every_frames=0)
    llm = ScriptedLLM([[answer]])
    async with Harness(stt=stt, llm=llm, config=EngineConfig(pacing_speed=1.0)) as h:
        await h.session.interrupt("skip greeting")
        push(h, SPEECH_FRAME, 300)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        await h.wait_for(lambda: answer.split()[-1] in " ".join(h.providers.tts.texts))
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms - CONFIG.speculative_silence_ms)
        final = await h.wait_event(UserTranscript, is_final=True)
        await h.wait_for(lambda: len([e for e in h.of(AudioFrame) if e.turn_id == final.turn_id]))
        push(h, SPEECH_FRAME, 200)
        stop = await h.wait_event(BargeIn, turn_id=final.turn_id)
        assert stop.reason == "barge_in"
        cut = await h.wait_event(AssistantFinal, turn_id=final.turn_id)
        assert cut.interrupted and len(cut.text) < len(answer)
        await asyncio.sleep(0.1)
        assert h.stale_audio_after_barge_in() == []


async def test_caller_resuming_during_the_hold_cancels_it_without_a_trace():
    # One word per 100 ms of speech: the pause comes after two words, the rest follows.
    stt = ScriptedSTT(["check the balance on my account"], partial_every_frames=0, ms_per_word=100)
    llm = ScriptedLLM()  # echoes the last user message
    async with Harness(stt=stt, llm=llm, config=CONFIG) as h:
        before = await greeted_and_quiet(h)
        greeting_turn = h.session.turn_id
        push(h, SPEECH_FRAME, 200)
        push(h, SILENT_FRAME, 300)  # past the speculative point, short of the end of turn
        await h.wait_for(lambda: "You said: check the." in h.providers.tts.texts)
        await settle()
        assert last_user_text(llm.requests[-1].messages) == "check the"
        assert h.events[before:] == []

        push(h, SPEECH_FRAME, 400)  # the caller goes on
        assert h.events[before:] == []  # no BargeIn, nothing of the speculative answer
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms)
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.text == "check the balance on my account"
        assert final.turn_id == greeting_turn + 1  # the speculation used up no turn id
        answer = await h.wait_event(AssistantFinal, turn_id=final.turn_id)
        assert answer.text == "You said: check the balance on my account."
        await h.wait_event(TurnMetrics, turn_id=final.turn_id)

        new = h.events[before:]
        assert not [e for e in new if isinstance(e, BargeIn)]
        assert [e.text for e in new if isinstance(e, UserTranscript)] == [final.text]
        spoken = "".join(e.text for e in new if isinstance(e, AssistantDelta))
        assert spoken == "You said: check the balance on my account."
        assert [m["content"] for m in h.session.history if m["role"] == "user"] == [final.text]
        assert stt.utterances == 1 and stt.resumes == 1


async def test_caller_resuming_before_the_peek_is_answered():
    # The peek's answer comes 50 ms late: the caller is already speaking again by then.
    stt = ScriptedSTT(
        ["please check my balance now"], partial_every_frames=0, ms_per_word=100, final_delay_ms=50
    )
    async with Harness(stt=stt, config=CONFIG) as h:
        before = await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 200)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        push(h, SPEECH_FRAME, 300)
        await asyncio.sleep(0.1)  # the stale answer arrives now and must be ignored
        assert h.events[before:] == [] and h.providers.llm.requests == []
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms)
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.text == "please check my balance now"
        await h.wait_event(AssistantFinal, text="You said: please check my balance now.")
        assert len(h.of(UserTranscript)) == 1


async def test_tool_asked_for_during_speculation_waits_for_the_end_of_turn():
    llm = ScriptedLLM(
        [
            [{"tool": "get_account_balance", "arguments": {"account_id": "12345"}}],
            ["Your balance is 42 dollars."],
        ]
    )
    tools = RecordingToolRunner()
    stt = ScriptedSTT(["balance for 12345"], partial_every_frames=0)
    async with Harness(stt=stt, llm=llm, tool_runner=tools, config=CONFIG) as h:
        before = await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 400)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        await h.wait_for(lambda: llm.finished_streams == 1)
        await settle()
        assert tools.calls == [] and h.events[before:] == []
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms - CONFIG.speculative_silence_ms)
        end = await h.wait_event(ToolEnd)
        assert end.status == "success" and tools.calls == [
            ("get_account_balance", {"account_id": "12345"})
        ]
        start = h.of(ToolStart)[0]
        final = h.of(UserTranscript)[-1]
        assert h.events.index(final) < h.events.index(start)
        answer = await h.wait_event(AssistantFinal, turn_id=end.turn_id)
        assert answer.text == "Your balance is 42 dollars."
        assert_history_consistent(h.session.history)


async def test_tool_of_a_cancelled_speculation_never_runs():
    def respond(request):
        if last_user_text(request.messages) == "balance":
            return [{"tool": "get_account_balance", "arguments": {"account_id": "1"}}]
        return ["Nothing to look up."]

    stt = ScriptedSTT(["balance never mind"], partial_every_frames=0, ms_per_word=100)
    llm = ScriptedLLM(respond=respond)
    tools = RecordingToolRunner()
    async with Harness(stt=stt, llm=llm, tool_runner=tools, config=CONFIG) as h:
        await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 100)
        push(h, SILENT_FRAME, 300)
        await h.wait_for(lambda: llm.finished_streams == 1)
        await settle()
        push(h, SPEECH_FRAME, 200)
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms)
        await h.wait_event(AssistantFinal, text="Nothing to look up.")
        assert tools.calls == [] and not h.of(ToolStart) and not h.of(ToolEnd)
        assert not any(m.get("tool_calls") for m in h.session.history)
        assert_history_consistent(h.session.history)


async def test_typed_text_during_the_hold_drops_the_speculation():
    stt = ScriptedSTT(["what about my card"], partial_every_frames=0)
    async with Harness(stt=stt, config=CONFIG) as h:
        await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 300)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        await h.wait_for(lambda: h.providers.llm.finished_streams == 1)
        await h.session.send_text("typed instead")
        await h.wait_event(AssistantFinal, text="You said: typed instead.")
        assert not [e for e in h.of(AssistantDelta) if "what about my card" in e.text]


async def test_pocketsphinx_utterance_continues_after_a_pause():
    """Real Silero + pocketsphinx: the default peek (end, then restart with the audio so far)."""
    from media.providers.local import LocalTTS
    from tests.media.test_local_providers import synthesize

    tts = LocalTTS(engine="piper", noise_scale=0.0, noise_w_scale=0.0)

    async def spoken(text: str) -> bytes:
        """Piper's speech at 16 kHz without its leading and trailing silence."""
        pcm = resample(await synthesize(tts, text), tts.sample_rate_hz, 16000)
        loud = [i for i in range(0, len(pcm) - 319, 320) if rms_dbfs(pcm[i : i + 320]) > -40]
        return pcm[loud[0] : loud[-1] + 320]

    first = await spoken("I would like to check")
    second = await spoken("the balance on my account.")
    # A 300 ms pause: past the speculative point (200 ms) even with Silero's hangover, well
    # short of the end of turn.
    audio = silence(300, 16000) + first + silence(300, 16000) + second + silence(700, 16000)
    pocketsphinx = {"BACKEND": "media.providers.pocketsphinx.PocketsphinxSTT"}
    providers = build_providers({**DEFAULT_PROVIDERS, "stt": pocketsphinx}).create()
    stt = providers.stt
    calls: list[str] = []
    peek, resume = stt.peek_final, stt.resume_utterance
    stt.peek_final = lambda: (calls.append("peek"), peek())[1]
    stt.resume_utterance = lambda audio: (calls.append("resume"), resume(audio))[1]
    llm = ScriptedLLM()
    async with Harness(
        stt=providers.stt, vad=providers.vad, tts=FakeTTS(), llm=llm, config=CONFIG
    ) as h:
        before = await greeted_and_quiet(h)
        for i in range(0, len(audio) - 639, 640):
            h.session.push_audio(audio[i : i + 640])
            await asyncio.sleep(0)
        final = await h.wait_event(UserTranscript, is_final=True, timeout_s=30)
        # Peeked in the pause, resumed, peeked again at the end: one utterance throughout.
        assert calls == ["peek", "resume", "peek"]
        # Words of both parts in the one final (piper's voice varies from run to run, and
        # pocketsphinx hears "balance" or "account", not always both).
        words = set(final.text.split())
        assert {"would", "like"} <= words and words & {"balance", "account"}, final.text
        answer = await h.wait_event(AssistantFinal, turn_id=final.turn_id, timeout_s=30)
        new = h.events[before:]
        assert [e.text for e in new if isinstance(e, UserTranscript) and e.is_final] == [final.text]
        assert [e for e in new if isinstance(e, AssistantFinal)] == [answer]
        assert not [e for e in new if isinstance(e, BargeIn)]


class FirstPassSTT(ScriptedSTT):
    """Answers a peek twice, like pocketsphinx: a quick first pass, then the definitive final."""

    def __init__(self, first_pass: str, **options) -> None:
        super().__init__(partial_every_frames=0, **options)
        self.first_pass = first_pass

    def peek_final(self) -> None:
        from media.providers.base import SttResult

        loop = asyncio.get_running_loop()
        loop.call_soon(self._deliver, SttResult(self.first_pass, False, speculative=True))
        super().peek_final()  # after `final_delay_ms`


async def test_first_pass_answer_replaced_when_the_final_disagrees():
    stt = FirstPassSTT("check the bounce", script=["check the balance"], final_delay_ms=50)
    llm = ScriptedLLM()
    async with Harness(stt=stt, llm=llm, config=CONFIG) as h:
        before = await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 400)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        await h.wait_for(lambda: "You said: check the balance." in h.providers.tts.texts)
        await settle()
        asked = [last_user_text(r.messages) for r in llm.requests]
        assert asked == ["check the bounce", "check the balance"]
        assert h.events[before:] == []
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms - CONFIG.speculative_silence_ms)
        final = h.of(UserTranscript)[-1]
        assert final.text == "check the balance"
        assert any(isinstance(e, AudioFrame) and e.turn_id == final.turn_id for e in h.events)
        await h.wait_event(AssistantFinal, turn_id=final.turn_id)
        spoken = "".join(e.text for e in h.of(AssistantDelta) if e.turn_id == final.turn_id)
        assert spoken == "You said: check the balance."
        assert "bounce" not in str(h.session.history)


async def test_first_pass_answer_kept_when_the_final_agrees():
    stt = FirstPassSTT("check the balance", script=["check the balance"], final_delay_ms=50)
    llm = ScriptedLLM()
    async with Harness(stt=stt, llm=llm, config=CONFIG) as h:
        await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 400)
        push(h, SILENT_FRAME, CONFIG.speculative_silence_ms)
        await h.wait_for(lambda: h.providers.tts.texts[-1:] == ["You said: check the balance."])
        await settle()
        push(h, SILENT_FRAME, CONFIG.end_of_turn_silence_ms - CONFIG.speculative_silence_ms)
        await h.wait_event(AssistantFinal, text="You said: check the balance.")
        assert len(llm.requests) == 1


class SlowLocalSTT(ScriptedSTT):
    """A recognizer in the process that always answers, late under load."""

    final_timeout_ms = 2000


async def test_a_late_final_of_a_recognizer_that_always_answers_is_waited_for():
    config = EngineConfig(pacing_speed=20.0, stt_final_timeout_ms=100)
    stt = SlowLocalSTT(["check my balance"], partial_every_frames=0, final_delay_ms=400)
    async with Harness(stt=stt, config=config) as h:
        await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 400)
        push(h, SILENT_FRAME, config.end_of_turn_silence_ms)
        final = await h.wait_event(UserTranscript, is_final=True)
        assert final.text == "check my balance"
        await h.wait_event(AssistantFinal, text="You said: check my balance.")
        assert h.of(SessionError) == []


async def test_a_final_that_never_comes_in_time_is_reported():
    config = EngineConfig(pacing_speed=20.0, stt_final_timeout_ms=100)
    stt = ScriptedSTT(["check my balance"], partial_every_frames=0, final_delay_ms=400)
    async with Harness(stt=stt, config=config) as h:
        await greeted_and_quiet(h)
        push(h, SPEECH_FRAME, 400)
        push(h, SILENT_FRAME, config.end_of_turn_silence_ms)
        error = await h.wait_event(SessionError)
        assert (error.stage, error.message) == ("stt", "final timed out")
        await asyncio.sleep(0.5)  # the late answer belongs to no turn
        assert h.of(UserTranscript) == []
