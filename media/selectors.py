"""Reads of the media app: what the media socket would do now, and the sockets open here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from media.acs import live
from media.modes import CALL_MODES

STREAM_ENDPOINT = "/api/v1/media/stream"


@dataclass(frozen=True, slots=True)
class RealtimeStatus:
    """Who answers `voice_live` calls: a realtime service, or the cascade in its place."""

    provider: str  # "none" | "azure_voice_live" | "openai"
    engine: str  # "realtime" | "cascade fallback"
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class MediaStatus:
    streaming_mode: str
    realtime: RealtimeStatus
    providers: dict[str, dict[str, Any]]
    streams: dict[str, Any]
    sample_rates_hz: dict[str, int] = field(
        default_factory=lambda: {mode.value: mode.sample_rate_hz for mode in CALL_MODES}
    )


def realtime_status() -> RealtimeStatus:
    from media.providers.base import ProviderStartError
    from media.providers.realtime import RealtimeFactory

    provider = settings.REALTIME_PROVIDER
    try:
        factory = RealtimeFactory.from_config(settings.REALTIME_SPEECH_PROVIDER)
    except ProviderStartError as exc:
        return RealtimeStatus(provider, "cascade fallback", False, str(exc))
    if factory is None:
        return RealtimeStatus(
            "none",
            "cascade fallback",
            True,
            "No realtime service is configured (REALTIME_PROVIDER=none): voice_live calls are "
            "answered by the speech cascade.",
        )
    check = factory.check()
    return RealtimeStatus(provider, "realtime", check.ok, check.detail)


def provider_checks() -> dict[str, dict[str, Any]]:
    """Cheap readiness of the configured speech providers (no model load, no network)."""
    from media.providers import build_providers

    try:
        return build_providers(settings.SPEECH_PROVIDERS).check()
    except ImportError as exc:
        return {"error": {"ok": False, "backend": "", "detail": str(exc)}}


def media_status() -> MediaStatus:
    return MediaStatus(
        streaming_mode=settings.ACS_STREAMING_MODE,
        realtime=realtime_status(),
        providers=provider_checks(),
        streams=live.snapshot(),
    )
