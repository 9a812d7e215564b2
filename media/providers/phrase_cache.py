"""A process-wide cache of synthesized phrases: greetings and fixed answers are spoken at once.

Every call starts with the same greeting, and agents repeat short fixed sentences ("One moment.",
"Anything else?"). Synthesizing them again costs the caller the TTS's first-byte latency (piper
60-400 ms, a cloud TTS a round trip) and the process CPU. The cache keeps the PCM of short
phrases per backend and voice, bounded in bytes (least recently used first out).

Only phrases without digits are kept: amounts, dates, codes and account numbers are personal and
rarely repeat. A phrase is stored only when its synthesis completed (not cancelled, no error).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator

from media.engine.snapshot import VoiceSpec
from media.providers.base import TTS

MAX_PHRASE_CHARS = 160
CHUNK_BYTES = 8192  # cached audio goes out in chunks, as a streaming TTS would send it


class PhraseCache:
    """PCM16 of short phrases by (backend, voice, text); thread-safe, bounded by `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def cacheable(text: str) -> bool:
        return 0 < len(text) <= MAX_PHRASE_CHARS and not any(c.isdigit() for c in text)

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            pcm = self._entries.get(key)
            if pcm is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return pcm

    def put(self, key: tuple, pcm: bytes) -> None:
        if not pcm or len(pcm) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._entries[key] = pcm
            self._bytes += len(pcm)
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


async def synthesize_cached(
    cache: PhraseCache | None, backend: str, tts: TTS, text: str, voice: VoiceSpec
) -> AsyncIterator[bytes]:
    """`tts.synthesize(text, voice)`, answered from `cache` when the phrase was spoken before."""
    if cache is None or not cache.cacheable(text):
        async for pcm in _stream(tts, text, voice):
            yield pcm
        return
    key = (backend, tts.sample_rate_hz, voice.name, voice.style, voice.rate, text)
    pcm = cache.get(key)
    if pcm is not None:
        for i in range(0, len(pcm), CHUNK_BYTES):
            yield pcm[i : i + CHUNK_BYTES]
        return
    chunks: list[bytes] = []
    async for piece in _stream(tts, text, voice):
        chunks.append(piece)
        yield piece
    # Reached only when the synthesis completed: a cancel or an error leaves nothing behind.
    cache.put(key, b"".join(chunks))


async def _stream(tts: TTS, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
    stream = tts.synthesize(text, voice)
    try:
        async for pcm in stream:
            yield pcm
    finally:
        await stream.aclose()


_cache: PhraseCache | None = None
_cache_lock = threading.Lock()


def phrase_cache(max_bytes: int) -> PhraseCache | None:
    """The process's cache (None when `max_bytes` is 0: caching off)."""
    global _cache
    if max_bytes <= 0:
        return None
    with _cache_lock:
        if _cache is None or _cache.max_bytes != max_bytes:
            _cache = PhraseCache(max_bytes)
        return _cache
