"""The phrase cache: a phrase spoken before is answered from memory, personal text never is."""

from __future__ import annotations

from media.engine.snapshot import VoiceSpec
from media.providers.fakes import FakeTTS
from media.providers.phrase_cache import PhraseCache, synthesize_cached

VOICE = VoiceSpec("en-US-Test", "", "")


async def spoken(cache, tts, text, voice=VOICE) -> bytes:
    return b"".join([pcm async for pcm in synthesize_cached(cache, "fake", tts, text, voice)])


async def test_a_phrase_spoken_before_comes_from_memory():
    cache = PhraseCache(10 * 1024 * 1024)
    tts = FakeTTS(ms_per_char=10, chunk_ms=100)
    first = await spoken(cache, tts, "Hello, how can I help?")
    second = await spoken(cache, tts, "Hello, how can I help?")
    assert tts.texts == ["Hello, how can I help?"]  # synthesized once
    assert second == first and len(first) == 22 * 10 * 32  # 10 ms per char at 16 kHz
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    await spoken(cache, tts, "Hello, how can I help?", VoiceSpec("en-US-Other"))
    assert len(tts.texts) == 2  # another voice is another phrase


async def test_personal_and_long_text_is_never_kept():
    cache = PhraseCache(10 * 1024 * 1024)
    tts = FakeTTS(ms_per_char=1)
    for _ in range(2):
        await spoken(cache, tts, "Your balance is 1,204.50 dollars.")
        await spoken(cache, tts, "word " * 40)
    assert len(tts.texts) == 4 and len(cache) == 0


async def test_a_cancelled_synthesis_leaves_nothing_behind():
    cache = PhraseCache(10 * 1024 * 1024)
    tts = FakeTTS(ms_per_char=40, chunk_ms=100)
    stream = synthesize_cached(cache, "fake", tts, "A sentence that gets interrupted.", VOICE)
    await anext(stream)
    await stream.aclose()  # the barge-in
    assert len(cache) == 0
    await spoken(cache, tts, "A sentence that gets interrupted.")
    assert len(tts.texts) == 2 and len(cache) == 1


async def test_least_recently_used_phrases_go_first_within_the_byte_bound():
    tts = FakeTTS(ms_per_char=10)
    one = len(await spoken(None, tts, "aaaa"))  # 4 characters: 1280 bytes
    cache = PhraseCache(3 * one)
    for text in ("aaaa", "bbbb", "cccc"):
        await spoken(cache, tts, text)
    await spoken(cache, tts, "aaaa")  # used again: now the most recent
    await spoken(cache, tts, "dddd")  # over the bound: "bbbb" goes
    assert cache.size_bytes <= 3 * one and len(cache) == 3
    calls = len(tts.texts)
    await spoken(cache, tts, "aaaa")
    await spoken(cache, tts, "cccc")
    assert len(tts.texts) == calls
    await spoken(cache, tts, "bbbb")
    assert len(tts.texts) == calls + 1
