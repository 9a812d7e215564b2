"""The TTS worker pool under concurrent sessions, with the engine's fake synthesizer."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from media.engine.snapshot import VoiceSpec
from media.providers.fakes import FakeTTS
from media.tts_pool import TTSPool, TTSPoolExhausted, configure_default_pool, default_pool


class CountingFactory:
    """Builds FakeTTS synthesizers and remembers them (and can be told to fail)."""

    def __init__(self) -> None:
        self.built: list[FakeTTS] = []
        self.fail = False
        self.closed = 0

    def __call__(self, voice: str) -> FakeTTS:
        if self.fail:
            raise RuntimeError("speech service unreachable")
        tts = FakeTTS(mode="silence", ms_per_char=1.0)
        tts.voice_name = voice
        factory = self

        async def close() -> None:
            factory.closed += 1

        tts.close = close
        self.built.append(tts)
        return tts


async def _speak(tts: FakeTTS, text: str) -> int:
    return sum([len(chunk) async for chunk in tts.synthesize(text, VoiceSpec(name="en-US"))])


async def test_concurrent_sessions_get_their_own_synthesizers_and_reuse_warm_ones():
    factory = CountingFactory()
    pool = TTSPool(factory, max_size=8)

    async def conversation(session_id: str, voice: str) -> FakeTTS:
        tts = await pool.acquire(session_id, voice)
        assert await pool.acquire(session_id, voice) is tts  # the session keeps its synthesizer
        assert await _speak(tts, "hello there") > 0
        return tts

    sessions = [(f"s{i}", "en-US-Ava" if i % 2 else "en-US-Andrew") for i in range(6)]
    first = await asyncio.gather(*(conversation(s, v) for s, v in sessions))
    assert len({id(t) for t in first}) == 6
    snap = pool.snapshot()
    assert snap.active_sessions == 6
    assert snap.allocations_new == 6
    assert snap.allocations_cached == 6
    assert snap.allocations_total == 12

    for session_id, _ in sessions:
        pool.release(session_id)
    assert pool.snapshot().active_sessions == 0
    assert pool.snapshot().idle_by_voice == {"en-US-Ava": 3, "en-US-Andrew": 3}
    assert all(t.cancels == 1 for t in first)  # release stops what it was saying

    second = await asyncio.gather(*(conversation(f"n{i}", v) for i, (_, v) in enumerate(sessions)))
    snap = pool.snapshot()
    assert snap.allocations_new == 6  # nothing new was built: all six were warm
    assert snap.allocations_warm == 6
    assert {id(t) for t in second} == {id(t) for t in first}
    assert all(t.voice_name == v for t, (_, v) in zip(second, sessions, strict=True))
    assert len(factory.built) == 6
    await pool.aclose()
    assert factory.closed == 6


async def test_a_full_pool_queues_sessions_until_one_is_released():
    pool = TTSPool(CountingFactory(), max_size=2, acquire_timeout_s=5.0)
    await pool.acquire("a", "v")
    await pool.acquire("b", "v")
    waiting = [asyncio.create_task(pool.acquire(name, "v")) for name in ("c", "d")]
    await asyncio.sleep(0.01)
    assert pool.snapshot().queue_depth == 2
    assert pool.snapshot().status == "degraded"
    assert not any(t.done() for t in waiting)

    pool.release("a")
    got_c = await asyncio.wait_for(waiting[0], 1)  # first come, first served
    assert pool.leased_to("c") is got_c
    assert not waiting[1].done()
    pool.release("b")
    await asyncio.wait_for(waiting[1], 1)
    snap = pool.snapshot()
    assert snap.active_sessions == 2 and snap.size == 2
    assert snap.queue_depth == 0 and snap.max_queue_depth == 2
    assert snap.allocations_new == 2 and snap.allocations_warm == 2
    assert snap.peak_active_sessions == 2


async def test_a_full_pool_fails_clearly_after_the_timeout_or_when_too_many_wait():
    pool = TTSPool(CountingFactory(), max_size=1, acquire_timeout_s=0.05, max_waiters=1)
    await pool.acquire("a", "v")
    second = asyncio.create_task(pool.acquire("b", "v"))
    await asyncio.sleep(0.01)
    with pytest.raises(TTSPoolExhausted, match="1 sessions waiting"):
        await pool.acquire("c", "v")
    with pytest.raises(TTSPoolExhausted, match="no synthesizer came free"):
        await second
    snap = pool.snapshot()
    assert snap.rejections == 2
    assert snap.queue_depth == 0
    assert snap.active_sessions == 1


async def test_an_idle_synthesizer_of_another_voice_makes_room():
    factory = CountingFactory()
    pool = TTSPool(factory, max_size=1)
    await pool.acquire("a", "voice-1")
    pool.release("a")
    tts = await pool.acquire("b", "voice-2")
    assert tts.voice_name == "voice-2"
    snap = pool.snapshot()
    assert snap.evictions == 1 and snap.size == 1
    assert factory.closed == 1


async def test_warm_voices_are_built_ahead_and_topped_up():
    factory = CountingFactory()
    pool = TTSPool(factory, max_size=4, warm_voices=["en-US-Ava"], warm_per_voice=1)
    assert await pool.warm() == 1
    assert pool.snapshot().idle_by_voice == {"en-US-Ava": 1}
    await pool.acquire("s1", "en-US-Ava")
    assert pool.snapshot().allocations_warm == 1
    for _ in range(100):  # the spare is rebuilt in the background
        if pool.snapshot().idle_by_voice.get("en-US-Ava") == 1:
            break
        await asyncio.sleep(0.01)
    assert pool.snapshot().idle_by_voice == {"en-US-Ava": 1}
    assert len(factory.built) == 2


async def test_factory_failures_make_the_pool_unhealthy_and_free_their_place():
    factory = CountingFactory()
    factory.fail = True
    pool = TTSPool(factory, max_size=1)
    for i in range(3):
        with pytest.raises(RuntimeError, match="unreachable"):
            await pool.acquire(f"s{i}", "v")
    snap = pool.snapshot()
    assert snap.status == "unhealthy"
    assert snap.factory_failures == 3 and snap.size == 0
    assert "unreachable" in snap.last_error
    factory.fail = False
    await pool.acquire("ok", "v")
    assert pool.snapshot().status == "degraded"  # full now (max_size=1), but healthy builds


async def test_a_discarded_synthesizer_is_closed_not_reused():
    factory = CountingFactory()
    pool = TTSPool(factory, max_size=2)
    first = await pool.acquire("a", "v")
    pool.release("a", discard=True)
    await asyncio.sleep(0)
    assert factory.closed == 1
    assert await pool.acquire("b", "v") is not first
    assert pool.snapshot().discards == 1


async def test_many_sessions_churning_keep_the_counts_consistent():
    factory = CountingFactory()
    pool = TTSPool(factory, max_size=5, acquire_timeout_s=5.0, max_waiters=100)
    voices = itertools.cycle(["a", "b"])

    async def conversation(i: int) -> None:
        session_id, voice = f"s{i}", next(voices)
        tts = await pool.acquire(session_id, voice)
        await _speak(tts, "x" * 20)
        await asyncio.sleep(0.001)
        pool.release(session_id)

    await asyncio.gather(*(conversation(i) for i in range(40)))
    snap = pool.snapshot()
    assert snap.active_sessions == 0
    assert snap.size <= 5
    assert snap.allocations_total == 40
    assert snap.allocations_new + snap.allocations_warm == 40
    assert snap.releases == 40
    assert snap.peak_active_sessions == 5
    assert len(factory.built) - snap.evictions - snap.discards == snap.size


@pytest.fixture
def configured_pool():
    previous = default_pool()
    pool = configure_default_pool(CountingFactory(), max_size=3)
    yield pool
    import media.tts_pool

    media.tts_pool._default = previous


def test_pool_endpoints_report_the_live_pool(client, configured_pool):
    async def allocate():
        await configured_pool.acquire("s1", "v")
        await configured_pool.acquire("s1", "v")
        await configured_pool.acquire("s2", "v")

    asyncio.run(allocate())
    metrics = client.get("/api/v1/tts/dedicated/metrics").json()
    assert metrics["active_sessions"] == 2
    assert metrics["allocations_total"] == 3
    assert metrics["allocations_cached"] == 1
    assert metrics["allocations_new"] == 2
    assert metrics["queue_depth"] == 0
    assert metrics["max_size"] == 3
    cache = metrics["phrase_cache"]
    assert cache["max_bytes"] == 32 * 1024 * 1024 and cache["bytes"] <= cache["max_bytes"]
    assert {"phrases", "hits", "misses"} <= set(cache)
    health = client.get("/api/v1/tts/dedicated/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["session_awareness"] is True
    assert health.json()["active_sessions"] == 2
    status = client.get("/api/v1/tts/dedicated/status")
    assert status.status_code == 200 and status.json()["status"] == "ok"


def test_an_unhealthy_pool_fails_the_load_balancer_status(client, configured_pool):
    configured_pool.factory.fail = True

    async def fail():
        for i in range(3):
            with pytest.raises(RuntimeError):
                await configured_pool.acquire(f"s{i}", "v")

    asyncio.run(fail())
    assert client.get("/api/v1/tts/dedicated/status").status_code == 503
    assert client.get("/api/v1/tts/dedicated/status").json()["status"] == "error"
    assert client.get("/api/v1/tts/dedicated/health").status_code == 503


@pytest.mark.django_db
def test_readiness_includes_the_pool(client, configured_pool):
    checks = {c["component"]: c for c in client.get("/api/v1/readiness").json()["checks"]}
    assert checks["tts_pool"]["status"] == "healthy"
    assert checks["tts_pool"]["required"] is False
    assert checks["tts_pool"]["details"]["max_size"] == 3


def test_the_default_pool_builds_the_configured_provider(settings):
    from media.speech import configure_tts_pool, settings_tts_factory

    settings.SPEECH_PROVIDERS = {
        **settings.SPEECH_PROVIDERS,
        "tts": {"BACKEND": "media.providers.fakes.FakeTTS", "OPTIONS": {"mode": "silence"}},
    }
    assert isinstance(settings_tts_factory("any"), FakeTTS)
    assert configure_tts_pool() is default_pool()
