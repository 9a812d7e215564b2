"""Pocketsphinx through the worker process pool: words come back, decoders live elsewhere, a
killed worker is replaced and its open utterance ends with an empty final."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from media.engine.audio import resample, silence
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers.base import ProviderContext, SttResult
from media.providers.local import LocalTTS, PocketsphinxSTT
from tests.media.test_local_providers import frames, synthesize

SENTENCE = "Please check the balance on my savings account."


@pytest.fixture(scope="module")
def spoken() -> bytes:
    """The sentence spoken by piper (no random variation), 16 kHz, silence around it."""

    async def make() -> bytes:
        tts = LocalTTS(engine="piper", noise_scale=0.0, noise_w_scale=0.0)
        pcm = await synthesize(tts, SENTENCE)
        return silence(300, 16000) + resample(pcm, tts.sample_rate_hz, 16000) + silence(800, 16000)

    return asyncio.run(make())


class Listener:
    def __init__(self) -> None:
        self.results: list[SttResult] = []
        self._changed = asyncio.Event()

    def __call__(self, result: SttResult) -> None:
        self.results.append(result)
        self._changed.set()

    def finals(self) -> list[SttResult]:
        return [r for r in self.results if r.is_final]

    async def wait(self, predicate, timeout_s: float = 30.0) -> None:
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout_s)


async def started(stt: PocketsphinxSTT, session_id: str) -> Listener:
    workers = SessionWorkers(ThreadBridge.for_loop(asyncio.get_running_loop()))
    await stt.start(ProviderContext(session_id, workers))
    listener = Listener()
    stt.set_listener(listener)
    return listener


async def test_words_come_back_from_a_decoder_in_another_process(spoken, monkeypatch):
    import pocketsphinx

    def no_decoder_here(*args, **kwargs):
        raise AssertionError("a pocketsphinx decoder was built in the serving process")

    monkeypatch.setattr(pocketsphinx, "Decoder", no_decoder_here)
    stt = PocketsphinxSTT()
    listener = await started(stt, "pool-words")
    pids = stt.pool().worker_pids()
    assert pids and os.getpid() not in pids
    assert all(os.kill(pid, 0) is None for pid in pids)  # they are running

    stt.begin_utterance(spoken[:6400])  # 200 ms of pre-roll
    for frame in frames(spoken[6400:]):
        stt.push(frame)
    stt.peek_final()
    await listener.wait(listener.finals)

    partials = [r for r in listener.results if not r.speculative]
    assert partials and not any(r.is_final for r in partials)
    # The peek's two answers: the first pass, then the definitive final, both speculative.
    first_pass, final = listener.results[-2:]
    assert first_pass.speculative and not first_pass.is_final
    assert final.speculative and final.is_final
    assert {"balance", "account"} <= set(final.text.split()), final.text
    await stt.close()


async def test_a_killed_worker_is_replaced_and_its_utterance_ends_empty(spoken, caplog):
    stt = PocketsphinxSTT(processes=1)  # its own pool: the other tests' workers live on
    listener = await started(stt, "pool-kill")
    [pid] = stt.pool().worker_pids()

    stt.begin_utterance(b"")
    for frame in frames(spoken)[:60]:
        stt.push(frame)
    await listener.wait(lambda: listener.results)  # a partial: the worker has the utterance
    with caplog.at_level(logging.WARNING, logger="media.engine.procpool"):
        os.kill(pid, signal.SIGKILL)
        await listener.wait(listener.finals)
    assert listener.finals() == [SttResult("", True)]
    assert any("pool-kill" in r.getMessage() for r in caplog.records)

    # The rest of the utterance goes nowhere; its end gets the empty final the session awaits.
    for frame in frames(spoken)[60:]:
        stt.push(frame)
    stt.end_utterance()
    await listener.wait(lambda: len(listener.finals()) == 2)
    assert listener.finals()[1] == SttResult("", True)

    # The next utterance is heard by the replacement worker.
    [replacement] = stt.pool().worker_pids()
    assert replacement != pid
    stt.begin_utterance(b"")
    for frame in frames(spoken):
        stt.push(frame)
    stt.end_utterance()
    await listener.wait(lambda: len(listener.finals()) == 3)
    assert {"balance", "account"} <= set(listener.finals()[2].text.split())
    await stt.close()
