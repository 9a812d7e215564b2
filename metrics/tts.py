"""The process's TTS worker pool, built from settings (`SPEECH_PROVIDERS["tts"]`, `TTS_POOL_*`).

The engine's glue allocates from `media.tts_pool.default_pool()`; this module only decides what
that pool builds and how large it is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from media.tts_pool import TTSPool, configure_default_pool, default_pool


def settings_tts_factory(voice: str) -> Any:
    """A new TTS provider of the configured backend (the voice is chosen per `synthesize`)."""
    from media.providers import import_backend

    entry = settings.SPEECH_PROVIDERS["tts"]
    return import_backend(entry["BACKEND"], "tts")(**dict(entry.get("OPTIONS") or {}))


def configure_tts_pool(*, force: bool = False) -> TTSPool:
    """Set up the process-wide pool once (nothing is built until a session asks)."""
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
