"""Silero VAD batched across sessions: same probabilities, fewer model runs, order kept."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from media.engine.audio import resample, silence
from media.engine.config import EngineConfig
from media.engine.events import AudioFrame, BargeIn, UserTranscript
from media.engine.snapshot import VoiceSpec
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers.base import ProviderContext
from media.providers.fakes import FakeTTS, ScriptedLLM, ScriptedSTT
from media.providers.local import LocalTTS
from media.providers.vad import SileroVAD, silero_batcher
from tests.media.conftest import Harness

LONG_ANSWER = (
    "This is the first sentence of a long answer. This is the second sentence that keeps going. "
    "And here is a third sentence, with more words than anyone wants to hear."
)


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + 640] for i in range(0, len(pcm) - 639, 640)]


@pytest.fixture(scope="module")
def speech_16k() -> bytes:
    """A spoken sentence (piper) at 16 kHz with 300 ms of silence before and 600 ms after."""

    async def make() -> bytes:
        tts = LocalTTS(engine="piper", noise_scale=0.0, noise_w_scale=0.0)
        loop = asyncio.get_running_loop()
        await tts.start(ProviderContext("tts", SessionWorkers(ThreadBridge.for_loop(loop))))
        pcm = b"".join([c async for c in tts.synthesize("Please check my account.", VoiceSpec())])
        return silence(300, 16000) + resample(pcm, tts.sample_rate_hz, 16000) + silence(600, 16000)

    return asyncio.run(make())


def streams(speech: bytes, count: int) -> list[list[bytes]]:
    """`count` different streams: the sentence shifted, scaled and with a little noise."""
    rng = np.random.default_rng(3)
    base = np.frombuffer(speech, np.int16).astype(np.float32)
    out = []
    for i in range(count):
        shifted = np.roll(base, i * 2200) * (0.4 + 0.6 * (i % 5) / 4)
        noisy = shifted + rng.standard_normal(base.size) * 30
        out.append(frames(np.clip(noisy, -32768, 32767).astype(np.int16).tobytes()))
    return out


def unbatched(stream: list[bytes]) -> list[float]:
    vad = SileroVAD(batch=False)
    asyncio.run(vad.start(ProviderContext("ref", None)))  # type: ignore[arg-type]
    return [vad.speech_probability(f) for f in stream]


class CountingModel:
    """Wraps the shared ONNX session to count runs and their batch sizes."""

    def __init__(self, session) -> None:
        self.session = session
        self.batch_sizes: list[int] = []

    def run(self, outputs, feeds):
        self.batch_sizes.append(int(feeds["input"].shape[0]))
        return self.session.run(outputs, feeds)


async def started(count: int, **options) -> list[SileroVAD]:
    vads = [SileroVAD(**options) for _ in range(count)]
    for i, vad in enumerate(vads):
        await vad.start(ProviderContext(f"v{i}", None))  # type: ignore[arg-type]
    return vads


async def feed_ticks(vads: list[SileroVAD], data: list[list[bytes]], results: list[list]) -> None:
    """Every session gets its next frame in the same loop iteration, as with 20 ms ticks."""
    for k in range(len(data[0])):
        for i, vad in enumerate(vads):
            vad.feed(data[i][k], results[i].append)
        await asyncio.sleep(0)
    for _ in range(100):
        if all(len(r) == len(data[0]) for r in results):
            return
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("in_worker", [False, True], ids=["on_loop", "in_worker"])
async def test_batched_probabilities_equal_unbatched(speech_16k, in_worker):
    data = streams(speech_16k, 6)
    expected = [await asyncio.to_thread(unbatched, s) for s in data]
    vads = await started(6, batch_in_worker=in_worker)
    results: list[list[float]] = [[] for _ in vads]
    await feed_ticks(vads, data, results)
    for got, want in zip(results, expected, strict=True):
        assert len(got) == len(want)
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert max(max(r) for r in results) > 0.9  # the speech was heard
    assert min(v.windows_run for v in vads) > 10


async def test_many_sessions_share_one_model_run_per_tick(speech_16k):
    data = [frames(speech_16k)] * 40  # same phase: every session completes a window together
    vads = await started(40)
    batcher = silero_batcher(asyncio.get_running_loop())
    counting = CountingModel(batcher.model.session)
    batcher.model.session = counting
    results: list[list[float]] = [[] for _ in vads]
    await feed_ticks(vads, data, results)
    windows = vads[0].windows_run
    assert windows > 10 and all(v.windows_run == windows for v in vads)
    # One ONNX call per tick with a window due, each holding all 40 sessions' windows.
    assert counting.batch_sizes == [40] * windows
    assert results[0] == results[39]


async def test_frames_of_one_session_come_back_in_order(speech_16k):
    data = streams(speech_16k, 2)
    expected = await asyncio.to_thread(unbatched, data[0])
    vads = await started(2)
    order: list[int] = []
    values: list[float] = []

    def on_probability(index: int):
        def deliver(p: float) -> None:
            order.append(index)
            values.append(p)

        return deliver

    other: list[float] = []
    # A burst: the whole stream at once (a network hiccup), while the other session ticks.
    for k, frame in enumerate(data[0]):
        vads[0].feed(frame, on_probability(k))
    for frame in data[1]:
        vads[1].feed(frame, other.append)
        await asyncio.sleep(0)
    for _ in range(200):
        if len(order) == len(data[0]):
            break
        await asyncio.sleep(0.005)
    assert order == list(range(len(data[0])))
    np.testing.assert_allclose(values, expected, atol=1e-4)


async def test_a_session_closing_mid_batch_is_harmless(speech_16k, caplog):
    data = streams(speech_16k, 3)
    expected = await asyncio.to_thread(unbatched, data[1])
    vads = await started(3)
    results: list[list[float]] = [[] for _ in vads]
    half = len(data[0]) // 2
    closed_at = None
    for k in range(len(data[0])):
        for i, vad in enumerate(vads):
            if i == 0 and closed_at is not None:
                continue
            vad.feed(data[i][k], results[i].append)
        if closed_at is None and k >= half and vads[0]._waiting:
            # Its window is queued for this tick's batch; it closes before the batch runs.
            await vads[0].close()
            closed_at = k
        await asyncio.sleep(0)
    assert closed_at is not None
    with caplog.at_level(logging.ERROR):
        for _ in range(100):
            if len(results[1]) == len(data[1]) and len(results[2]) == len(data[2]):
                break
            await asyncio.sleep(0.005)
    delivered_before_close = len(results[0])
    await asyncio.sleep(0.02)
    assert len(results[0]) == delivered_before_close <= closed_at
    np.testing.assert_allclose(results[1], expected, atol=1e-4)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_closing_a_session_with_frames_waiting_emits_nothing_after(speech_16k):
    stream = frames(speech_16k)
    async with Harness(vad=SileroVAD(), config=EngineConfig(pacing_speed=20.0)) as h:
        await h.session.interrupt("skip greeting")
        for frame in stream:
            h.session.push_audio(frame)
        assert h.session._vad_frames  # the windows wait for their batch
        await h.session.close()
        count = len(h.events)
        await asyncio.sleep(0.05)
        assert len(h.events) == count


async def test_speech_onset_and_barge_in_through_the_batched_silero(speech_16k):
    """Three calls on one loop; each caller talks over the agent; each agent stops."""
    stream = frames(speech_16k)
    harnesses = [
        Harness(
            session_id=f"call-{i}",
            vad=SileroVAD(),
            stt=ScriptedSTT(["stop"]),
            llm=ScriptedLLM([[LONG_ANSWER]]),
            tts=FakeTTS(),
            config=EngineConfig(pacing_speed=1.0),
        )
        for i in range(3)
    ]
    batcher = silero_batcher(asyncio.get_running_loop())
    runs0, items0 = batcher.runs, batcher.items_run
    for h in harnesses:
        await h.__aenter__()
    try:
        for h in harnesses:
            await h.session.interrupt("skip greeting")
            await h.session.send_text("tell me everything")
        for h in harnesses:
            await h.wait_for(lambda h=h: len(h.of(AudioFrame)) >= 5)
        for frame in stream:  # the callers speak at real time, over the answers
            for h in harnesses:
                h.session.push_audio(frame)
            await asyncio.sleep(0.02)
        for h in harnesses:
            stop = await h.wait_event(BargeIn, reason="barge_in")
            final = await h.wait_event(UserTranscript, is_final=True, text="stop")
            assert final.turn_id > stop.turn_id
            await asyncio.sleep(0)
            assert h.stale_audio_after_barge_in() == []
        # The windows of the three calls shared model runs.
        assert batcher.items_run - items0 > 2 * (batcher.runs - runs0) > 0
    finally:
        for h in harnesses:
            await h.__aexit__(None, None, None)


async def test_windows_under_the_energy_floor_skip_the_model_and_answer_at_once():
    vad = (await started(1))[0]
    rng = np.random.default_rng(5)

    def noise(dbfs: float) -> bytes:
        level = 32768 * 10 ** (dbfs / 20)
        return (rng.standard_normal(16000) * level).astype(np.int16).tobytes()

    quiet: list[float] = []
    for frame in frames(noise(-66)):  # a caller on hold: under the -60 dBFS floor
        vad.feed(frame, quiet.append)
    assert quiet == [0.0] * 50 and vad.windows_run == 0  # every frame answered at once
    line: list[float] = []
    for frame in frames(noise(-54)):  # line noise over the floor: the model scores it
        vad.feed(frame, line.append)
        await asyncio.sleep(0)
    for _ in range(100):
        if len(line) == 50:
            break
        await asyncio.sleep(0.005)
    assert len(line) == 50 and vad.windows_run == 1000 // 32
    assert max(line) < 0.5
