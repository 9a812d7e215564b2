"""Settings → speech providers: the configured factory and its readiness, the realtime service
for `voice_live`, the process's TTS pool (what it builds, how large it is) and a session's lease
on it, and the phrase cache warmed ahead.

The one place the Django side turns `SPEECH_PROVIDERS`, `REALTIME_SPEECH_PROVIDER`, `TTS_POOL_*`
and `TTS_PHRASE_CACHE_MB` into providers; conversations (`media.conversation`) and start-up
(`voiceproject.asgi`) ask here, and metrics gets the readiness checks and the pool's reports
(`readiness_checks`, `tts_pool_snapshot`, `phrase_cache_counts`) registered by
`MediaConfig.ready` (`metrics.registry`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import connections

from agentbuilder import selectors as agents
from media.engine.snapshot import AgentRoster
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers import ProviderFactory, ProviderSet, build_providers, import_backend
from media.providers.base import TTS, ProviderContext, ProviderStartError
from media.providers.phrase_cache import PhraseCache, phrase_cache, synthesize_cached
from media.providers.realtime import RealtimeFactory
from media.tts_pool import (
    PoolSnapshot,
    TTSPool,
    TTSPoolExhausted,
    configure_default_pool,
    default_pool,
)
from metrics.checks import Check


@functools.lru_cache(maxsize=8)
def _factory(config_json: str) -> ProviderFactory:
    return build_providers(json.loads(config_json))


def provider_factory() -> ProviderFactory:
    """The provider factory of the current settings (cached per configuration)."""
    return _factory(json.dumps(settings.SPEECH_PROVIDERS, sort_keys=True, default=str))


def provider_check(kind: str) -> dict[str, Any]:
    """Readiness of the configured `kind` provider: package installed, credentials present.

    Raises:
        RuntimeError: the provider is not ready; the message says why.
    """
    report = provider_factory().check()[kind]
    if not report.get("ok"):
        raise RuntimeError(report.get("detail") or f"{kind} provider is not ready")
    return report


def check_tts_pool() -> dict[str, Any]:
    """The process's TTS pool can build synthesizers (in memory: no synthesis is run)."""
    snapshot = tts_pool_snapshot()
    if snapshot is None:
        raise RuntimeError("the TTS pool is not configured in this process")
    if snapshot.status == "unhealthy":
        raise RuntimeError(f"synthesizers cannot be built: {snapshot.last_error}")
    return {
        "pool_status": snapshot.status,
        "active_sessions": snapshot.active_sessions,
        "max_size": snapshot.max_size,
        "queue_depth": snapshot.queue_depth,
    }


def check_realtime() -> dict[str, Any]:
    """The configured realtime service: package installed, credentials present."""
    report = realtime_factory().check().as_dict()
    if not report.get("ok"):
        raise RuntimeError(report.get("detail") or "realtime service is not ready")
    return report


def readiness_checks() -> list[Check]:
    """Readiness checks of the speech stack: the TTS pool (optional), each configured
    provider, and the realtime service when one is configured (optional)."""
    checks = [Check("tts_pool", check_tts_pool, required=False)]
    checks += [
        Check(f"speech_{kind}", functools.partial(provider_check, kind))
        for kind in ("stt", "tts", "llm", "vad")
    ]
    if settings.REALTIME_SPEECH_PROVIDER:
        checks.append(Check("realtime", check_realtime, required=False))
    return checks


def tts_pool_snapshot() -> PoolSnapshot | None:
    """The process's TTS pool state, or None if it is not set up."""
    pool = default_pool()
    return pool.snapshot() if pool is not None else None


def _phrase_cache() -> PhraseCache | None:
    """The process's phrase cache (`TTS_PHRASE_CACHE_MB`), None when it is off."""
    return phrase_cache(settings.TTS_PHRASE_CACHE_MB * 1024 * 1024)


def phrase_cache_counts() -> dict[str, int] | None:
    """The process's TTS phrase cache: phrases, bytes and hits (None when it is off)."""
    cache = _phrase_cache()
    if cache is None:
        return None
    return {
        "phrases": len(cache),
        "bytes": cache.size_bytes,
        "max_bytes": cache.max_bytes,
        "hits": cache.hits,
        "misses": cache.misses,
    }


def settings_tts_factory(voice: str) -> Any:
    """A new TTS provider of the configured backend (the voice is chosen per `synthesize`)."""
    entry = settings.SPEECH_PROVIDERS["tts"]
    return import_backend(entry["BACKEND"], "tts")(**dict(entry.get("OPTIONS") or {}))


def configure_tts_pool(*, force: bool = False) -> TTSPool:
    """Set up the process-wide TTS pool once (nothing is built until a session asks)."""
    pool = default_pool()
    if pool is not None and not force:
        return pool
    return configure_default_pool(
        settings_tts_factory,
        max_size=settings.TTS_POOL_MAX_SIZE,
        warm_voices=settings.TTS_POOL_WARM_VOICES,
        warm_per_voice=settings.TTS_POOL_WARM_PER_VOICE,
        acquire_timeout_s=settings.TTS_POOL_ACQUIRE_TIMEOUT_S,
        max_waiters=settings.TTS_POOL_MAX_WAITERS,
    )


def tts_cache_key() -> str:
    """The phrase cache's name for the configured TTS: the same phrase sounds different with
    another backend or its options."""
    return json.dumps(settings.SPEECH_PROVIDERS["tts"], sort_keys=True, default=str)


def phrase_cache_warm() -> int:
    """Synthesize every enabled agent's greeting and return greeting into the phrase cache, so
    that a process's first caller hears the greeting at once too. Returns how many phrases
    were synthesized. Blocking (it runs its own event loop): call it at start-up, off the
    server's loop."""
    cache = _phrase_cache()
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
        self.release()

    def release(self) -> None:
        """Give the synthesizer back to the pool now (sync, idempotent): also the path of a
        session whose task was cancelled before its providers could be closed."""
        if self.inner is not None:
            self.inner = None
            self.pool.release(self.lease_session_id)


def session_providers(session_id: str, roster: AgentRoster) -> ProviderSet:
    """New providers for a session; the TTS is leased from the process's pool.

    Pool entries are keyed by backend, options and voice, so a synthesizer is only ever handed
    to a session configured for the same backend with the same options.
    """
    providers = provider_factory().create()
    entry = settings.SPEECH_PROVIDERS["tts"]
    backend = entry["BACKEND"]
    if entry.get("OPTIONS"):
        backend += "#" + hashlib.sha256(tts_cache_key().encode()).hexdigest()[:8]
    pool_key = f"{backend}|{roster.get(roster.entry_agent).voice.name}"
    cache = _phrase_cache()
    tts = PooledTTS(
        configure_tts_pool(), session_id, pool_key, cache_key=tts_cache_key(), cache=cache
    )
    return replace(providers, tts=tts)
