"""The providers a conversation runs with: the configured factory, the realtime service for
`voice_live`, the TTS leased from the process's pool, and the phrase cache warmed ahead."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from functools import lru_cache

from django.conf import settings
from django.db import connections

from agentbuilder import selectors as agents
from media.engine.snapshot import AgentRoster
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers import ProviderFactory, ProviderSet, build_providers
from media.providers.base import TTS, ProviderContext, ProviderStartError
from media.providers.phrase_cache import PhraseCache, phrase_cache, synthesize_cached
from media.providers.realtime import RealtimeFactory
from media.tts_pool import TTSPool, TTSPoolExhausted
from metrics.tts import configure_tts_pool


@lru_cache(maxsize=8)
def _factory(config_json: str) -> ProviderFactory:
    return build_providers(json.loads(config_json))


def provider_factory() -> ProviderFactory:
    """The provider factory of the current settings (cached per configuration)."""
    return _factory(json.dumps(settings.SPEECH_PROVIDERS, sort_keys=True, default=str))


def tts_cache_key() -> str:
    """The phrase cache's name for the configured TTS: the same phrase sounds different with
    another backend or its options."""
    return json.dumps(settings.SPEECH_PROVIDERS["tts"], sort_keys=True, default=str)


def phrase_cache_warm() -> int:
    """Synthesize every enabled agent's greeting and return greeting into the phrase cache, so
    that a process's first caller hears the greeting at once too. Returns how many phrases
    were synthesized. Blocking (it runs its own event loop): call it at start-up, off the
    server's loop."""
    cache = phrase_cache(settings.TTS_PHRASE_CACHE_MB * 1024 * 1024)
    if cache is None:
        return 0
    try:
        roster = agents.roster_build()
    finally:
        connections.close_all()  # this thread's connections: it ends soon
    phrases = {
        (text, agent.voice)
        for agent in roster.agents.values()
        for text in (agent.greeting, agent.return_greeting)
        if text and cache.cacheable(text)
    }

    async def synthesize_all() -> None:
        loop = asyncio.get_running_loop()
        tts = provider_factory().create().tts
        workers = SessionWorkers(ThreadBridge.for_loop(loop))
        await tts.start(ProviderContext("phrase-cache", workers, tts.sample_rate_hz))
        key = tts_cache_key()
        try:
            for text, voice in sorted(phrases, key=lambda p: p[0]):
                async for _ in synthesize_cached(cache, key, tts, text, voice):
                    pass
        finally:
            await tts.close()

    asyncio.run(synthesize_all())
    return len(phrases)


def realtime_factory() -> RealtimeFactory | None:
    """The realtime service for `voice_live`, or None when the cascade stands in for it."""
    return RealtimeFactory.from_config(settings.REALTIME_SPEECH_PROVIDER)


class PooledTTS(TTS):
    """A session's lease on a pooled synthesizer: closing it gives it back to the pool."""

    def __init__(
        self,
        pool: TTSPool,
        session_id: str,
        voice: str,
        *,
        cache_key: str = "",
        cache: PhraseCache | None = None,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.lease_session_id = session_id
        self.voice = voice
        self.cache_key = cache_key  # which synthesizer, for the phrase cache
        self.cache = cache
        self.inner: TTS | None = None

    @property
    def sample_rate_hz(self) -> int:  # type: ignore[override]
        return self.inner.sample_rate_hz if self.inner else TTS.sample_rate_hz

    async def start(self, context: ProviderContext) -> None:
        try:
            self.inner = await self.pool.acquire(self.lease_session_id, self.voice)
        except TTSPoolExhausted as exc:
            raise ProviderStartError(str(exc)) from exc
        await self.inner.start(context)
        self.context = context

    def synthesize(self, text, voice):
        return synthesize_cached(self.cache, self.cache_key, self.inner, text, voice)

    def cancel(self) -> None:
        if self.inner is not None:
            self.inner.cancel()

    async def close(self) -> None:
        if self.inner is not None:
            self.inner = None
            self.pool.release(self.lease_session_id)


def session_providers(session_id: str, roster: AgentRoster) -> ProviderSet:
    """New providers for a session; the TTS is leased from the process's pool.

    Pool entries are keyed by backend and voice, so a synthesizer is only ever handed to
    a session configured for the same backend.
    """
    providers = provider_factory().create()
    backend = settings.SPEECH_PROVIDERS["tts"]["BACKEND"]
    pool_key = f"{backend}|{roster.get(roster.entry_agent).voice.name}"
    cache = phrase_cache(settings.TTS_PHRASE_CACHE_MB * 1024 * 1024)
    tts = PooledTTS(
        configure_tts_pool(), session_id, pool_key, cache_key=tts_cache_key(), cache=cache
    )
    return replace(providers, tts=tts)
