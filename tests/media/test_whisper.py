"""The offline Whisper recognizer (tiny.en from its wheel) for real, through the engine."""

from __future__ import annotations

import asyncio
import time

import pytest

from media.engine.audio import resample, silence
from media.engine.config import EngineConfig
from media.engine.events import AssistantFinal, TurnMetrics, UserTranscript
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers import DEFAULT_PROVIDERS, build_providers
from media.providers.base import ProviderContext, SttResult
from media.providers.fakes import FakeTTS
from media.providers.local import LocalTTS
from media.providers.whisper import WhisperSTT, fold_repetitions
from tests.media.conftest import Harness
from tests.media.test_local_providers import frames, synthesize

SENTENCE = "My name is Alice Johnson and my social ends in four eight one seven."


@pytest.fixture(scope="module")
def spoken_16k() -> bytes:
    """The sentence spoken by piper (no random variation), 16 kHz, 300 ms of silence before
    and 800 ms after."""

    async def make() -> bytes:
        tts = LocalTTS(engine="piper", noise_scale=0.0, noise_w_scale=0.0)
        pcm = await synthesize(tts, SENTENCE)
        return silence(300, 16000) + resample(pcm, tts.sample_rate_hz, 16000) + silence(800, 16000)

    return asyncio.run(make())


def test_repeated_sentences_are_folded():
    assert fold_repetitions("Show me my balance? Show me my balance? Show me") == (
        "Show me my balance?"
    )
    assert fold_repetitions("What are your hours on Saturday? What are your hours on Saturday day?")
    assert fold_repetitions("No. No, I said 7 2 3 0.") == "No. No, I said 7 2 3 0."
    assert fold_repetitions(
        "How much money is in my savings account, how much money is in my savings account, how"
    ) == ("How much money is in my savings account")
    assert fold_repetitions("My code is 1 2 1 2 1 2 1 2.") == "My code is 1 2 1 2 1 2 1 2."
    # the end of a sentence said again after it
    said = "The last four are eight oh four two sorry no eight oh two four."
    assert fold_repetitions(f"{said} Sorry no eight oh two four.") == said
    assert fold_repetitions("It ends in two oh. Two oh.") == "It ends in two oh. Two oh."


def test_whisper_is_the_offline_default():
    assert DEFAULT_PROVIDERS["stt"]["BACKEND"] == "media.providers.whisper.WhisperSTT"
    check = WhisperSTT.check()
    assert check.ok, check.detail


async def started(stt: WhisperSTT) -> WhisperSTT:
    loop = asyncio.get_running_loop()
    await stt.start(ProviderContext("whisper-test", SessionWorkers(ThreadBridge.for_loop(loop))))
    return stt


async def test_the_name_and_digits_come_out_right(spoken_16k):
    stt = await started(WhisperSTT(partial_interval_ms=0))
    results: list[SttResult] = []
    done = asyncio.Event()
    stt.set_listener(lambda r: (results.append(r), done.set()))
    stt.begin_utterance(b"")
    for frame in frames(spoken_16k):
        stt.push(frame)
    stt.end_utterance()
    await asyncio.wait_for(done.wait(), 30)
    final = results[-1]
    assert final.is_final and not final.speculative
    assert "Alice Johnson" in final.text, final.text
    assert "".join(c for c in final.text if c.isdigit()).endswith("4817"), final.text


async def test_a_peek_leaves_the_utterance_open_and_answers_in_order(spoken_16k):
    """A peek answers the audio so far (speculative final); the utterance goes on, and the
    answers come in the order they were asked even though they decode in parallel."""
    stt = await started(WhisperSTT(partial_interval_ms=0))
    results: list[SttResult] = []
    stt.set_listener(results.append)
    half = len(spoken_16k) // 2 & ~1
    stt.begin_utterance(b"")
    for frame in frames(spoken_16k[:half]):
        stt.push(frame)
    stt.peek_final()  # the first half: a longer decode...
    stt.resume_utterance(b"")
    for frame in frames(spoken_16k[half:]):
        stt.push(frame)
    stt.peek_final()  # ...than the whole sentence? either way, answered second
    stt.commit_utterance()
    for _ in range(600):
        if len(results) == 2:
            break
        await asyncio.sleep(0.05)
    assert [r.speculative and r.is_final for r in results] == [True, True]
    assert "4817" not in results[0].text.replace(" ", "").replace(",", "")
    assert "Alice" in results[1].text and "Johnson" in results[1].text, results[1].text


async def test_decoding_does_not_stop_the_event_loop(spoken_16k):
    """CTranslate2 releases the GIL: the loop keeps ticking while an utterance decodes in a
    worker thread (pocketsphinx's decoder, which holds it, left no tick for seconds)."""
    stt = await started(WhisperSTT(partial_interval_ms=0))
    decode = asyncio.ensure_future(stt.context.workers.run(stt._transcribe, spoken_16k))
    ticks = 0
    started_at = time.perf_counter()
    while not decode.done():
        await asyncio.sleep(0.005)
        ticks += 1
    elapsed_ms = (time.perf_counter() - started_at) * 1000
    assert "Johnson" in decode.result()
    # At least one tick per 100 ms of decoding (an idle loop gets about twenty).
    assert ticks >= max(2, elapsed_ms // 100), (ticks, elapsed_ms)


async def test_offline_speech_through_the_engine_becomes_the_turn(spoken_16k):
    """Silero VAD + Whisper in the engine: the speculative peek's answer is the user's turn."""
    providers = build_providers(
        {**DEFAULT_PROVIDERS, "tts": {"BACKEND": "media.providers.fakes.FakeTTS"},
         "llm": {"BACKEND": "media.providers.fakes.ScriptedLLM"}}
    ).create()  # fmt: skip
    config = EngineConfig(pacing_speed=20.0, stt_final_timeout_ms=20000)
    async with Harness(stt=providers.stt, vad=providers.vad, tts=FakeTTS(), config=config) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        for frame in frames(spoken_16k):
            h.session.push_audio(frame)
        final = await h.wait_event(UserTranscript, is_final=True, timeout_s=30)
        assert "Johnson" in final.text, final.text
        metrics = await h.wait_event(TurnMetrics, turn_id=final.turn_id)
        assert metrics.stt_final_ms is not None


async def test_partials_come_while_the_caller_speaks(spoken_16k):
    stt = await started(WhisperSTT(partial_interval_ms=1000))
    results: list[SttResult] = []
    stt.set_listener(results.append)
    stt.begin_utterance(b"")
    for frame in frames(spoken_16k[: 2 * 32000]):  # the first two seconds
        stt.push(frame)
    for _ in range(600):
        if results:
            break
        await asyncio.sleep(0.05)
    assert results and not results[0].is_final
    assert "name" in results[0].text.lower(), results[0].text


def test_a_misheard_customer_name_is_decoded_again_with_the_names_it_may_be():
    """espeak-ng's f2 voice says "David Brown" in a way tiny.en writes "game with brown"; with
    the bank's customers as hints the second pass writes the name, and the digits stay; a
    caller who only shares a customer's last name keeps his own first name."""
    from bench.spoken.render import render_turn, voices_get
    from media.providers.name_hints import NameHints

    voices = {voice.key: voice for voice in voices_get(None)}
    stt = WhisperSTT(partial_interval_ms=0)
    model = stt._load()
    hints = NameHints(["David Brown", "Sarah Wilson", "Alice Johnson"])

    def heard(voice: str, segments: list[str], with_hints: NameHints | None) -> str:
        pcm, _ = render_turn(voices[voice], segments, [240] * (len(segments) - 1))
        return model.transcribe(pcm, prompt=stt.prompt, hints=with_hints, **stt._decode)

    said = [
        "Hi, my name is David Brown,",
        "and the last four digits of my social are seven three oh five.",
    ]
    without = heard("espeak-f2", said, None)
    assert "david brown" not in without.lower(), without  # what the hint is for
    text = heard("espeak-f2", said, hints)
    assert "David Brown" in text and "seven three oh five" in text, text
    other = heard(
        "piper-joe", ["This is Karen Brown,", "my last four are three three one eight."], hints
    )
    assert "Karen Brown" in other, other
