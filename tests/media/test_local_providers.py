"""Offline providers for real: piper/espeak-ng TTS, pocketsphinx STT, Silero and WebRTC VAD."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from media.engine.audio import resample, silence
from media.engine.config import EngineConfig
from media.engine.events import AssistantFinal, TurnMetrics, UserTranscript
from media.engine.snapshot import VoiceSpec
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers import DEFAULT_PROVIDERS, build_providers
from media.providers.base import ProviderContext
from media.providers.fakes import FakeTTS
from media.providers.local import LocalTTS, PocketsphinxSTT
from media.providers.vad import SileroVAD, WebRtcVAD, _SileroModel
from tests.media.conftest import Harness

SENTENCE = "I would like to check the balance on my account."


async def synthesize(tts: LocalTTS, text: str) -> bytes:
    loop = asyncio.get_running_loop()
    await tts.start(ProviderContext("tts-test", SessionWorkers(ThreadBridge.for_loop(loop))))
    return b"".join([pcm async for pcm in tts.synthesize(text, VoiceSpec())])


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + 640] for i in range(0, len(pcm) - 639, 640)]


@pytest.fixture(scope="module")
def spoken_16k() -> bytes:
    """The sentence spoken by piper (its random variation off: the same audio every run), at
    16 kHz, with 300 ms of silence before and 800 ms after."""

    async def make() -> bytes:
        tts = LocalTTS(engine="piper", noise_scale=0.0, noise_w_scale=0.0)
        pcm = await synthesize(tts, SENTENCE)
        return silence(300, 16000) + resample(pcm, tts.sample_rate_hz, 16000) + silence(800, 16000)

    return asyncio.run(make())


async def test_piper_synthesizes_a_sentence():
    tts = LocalTTS()
    assert tts.engine == "piper"
    pcm = await synthesize(tts, SENTENCE)
    seconds = len(pcm) / 2 / tts.sample_rate_hz
    assert tts.sample_rate_hz == 22050 and 1.5 < seconds < 6
    assert np.abs(np.frombuffer(pcm, np.int16)).max() > 3000


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed")
async def test_espeak_fallback_streams_pcm():
    tts = LocalTTS(engine="espeak")
    pcm = await synthesize(tts, "Hello there.")
    assert tts.sample_rate_hz == 22050 and len(pcm) > 22050  # more than half a second


async def test_local_speech_through_engine_is_recognized(spoken_16k):
    """Piper speech fed through the engine (Silero VAD + pocketsphinx) becomes the turn's text."""
    providers = build_providers(
        {**DEFAULT_PROVIDERS, "stt": {"BACKEND": "media.providers.pocketsphinx.PocketsphinxSTT"},
         "tts": {"BACKEND": "media.providers.fakes.FakeTTS"},
         "llm": {"BACKEND": "media.providers.fakes.ScriptedLLM"}}
    ).create()  # fmt: skip
    # The audio arrives all at once, so the recognizer is behind by the utterance's decode
    # time when the VAD ends the turn; on a loaded machine that can pass the 2 s final
    # timeout, and the turn would end with the last partial. Give the final time to come.
    config = EngineConfig(pacing_speed=20.0, stt_final_timeout_ms=20000)
    async with Harness(stt=providers.stt, vad=providers.vad, tts=FakeTTS(), config=config) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        for frame in frames(spoken_16k):
            h.session.push_audio(frame)
        final = await h.wait_event(UserTranscript, is_final=True, timeout_s=20)
        words = set(final.text.split())
        assert {"balance", "account"} <= words, final.text
        assert any(not e.is_final for e in h.of(UserTranscript))  # partials came first
        metrics = await h.wait_event(TurnMetrics, turn_id=final.turn_id)
        assert metrics.stt_final_ms is not None


async def test_pocketsphinx_callers_do_not_leak_into_each_other(spoken_16k):
    """Two callers one after the other on the worker processes' reused decoders (reset to the
    model's cepstral mean in between) hear the same words in the same audio."""
    loop = asyncio.get_running_loop()
    workers = SessionWorkers(ThreadBridge.for_loop(loop))
    results: list[list] = [[], []]
    finals = [asyncio.Event(), asyncio.Event()]
    stts = [PocketsphinxSTT(), PocketsphinxSTT()]

    def listener(i: int):
        def on_result(result) -> None:
            results[i].append(result)
            if result.is_final:
                finals[i].set()

        return on_result

    for i, stt in enumerate(stts):
        await stt.start(ProviderContext(f"s{i}", workers))
        stt.set_listener(listener(i))
    for i, stt in enumerate(stts):
        stt.begin_utterance(b"")
        for frame in frames(spoken_16k):
            stt.push(frame)
        stt.end_utterance()
        await asyncio.wait_for(finals[i].wait(), 20)
    texts = [[r.text for r in results[i] if r.is_final] for i in (0, 1)]
    assert texts[0] == texts[1] and len(texts[0]) == 1
    assert {"balance", "account"} <= set(texts[0][0].split()), texts[0]


def test_silero_shared_model_separates_speech_from_silence(spoken_16k):
    a, b = SileroVAD(), SileroVAD()
    for vad in (a, b):
        asyncio.run(vad.start(ProviderContext("v", None)))  # type: ignore[arg-type]
    assert a._model is b._model is _SileroModel.get()
    speech = [a.speech_probability(f) for f in frames(spoken_16k)]
    quiet = [b.speech_probability(f) for f in frames(silence(1000, 16000))]
    assert max(quiet) == 0.0 and b.windows_run == 0  # silence never reaches the model
    assert max(speech) > 0.9
    lead = speech[: 300 // 20 - 2]  # the leading silence
    assert max(lead) < 0.5


def test_webrtc_vad_detects_speech(spoken_16k):
    vad = WebRtcVAD()
    asyncio.run(vad.start(ProviderContext("w", None)))  # type: ignore[arg-type]
    decisions = [vad.speech_probability(f) for f in frames(spoken_16k)]
    assert sum(decisions[20:100]) > 30
    assert sum(decisions[:10]) == 0


def test_readiness_checks_report_each_provider():
    report = build_providers(DEFAULT_PROVIDERS).check()
    assert set(report) == {"stt", "tts", "llm", "vad"}
    assert report["stt"]["ok"] and report["vad"]["ok"] and report["tts"]["ok"]
    assert report["tts"]["detail"].startswith("piper")
