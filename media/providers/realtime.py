"""The realtime (voice_live) provider: Azure Voice Live or the OpenAI realtime API.

Configured like the other providers, by a CACHES-like entry (Django's
`REALTIME_SPEECH_PROVIDER`, None when `REALTIME_PROVIDER=none`)::

    {"BACKEND": "media.providers.realtime.RealtimeSession",
     "OPTIONS": {"provider": "azure_voice_live", "endpoint": "https://….services.ai.azure.com",
                 "api_key": "…", "model": "gpt-4o"}}
    {"BACKEND": "media.providers.realtime.RealtimeSession",
     "OPTIONS": {"provider": "openai", "url": "wss://api.openai.com/v1/realtime",
                 "api_key": "…", "model": "gpt-realtime"}}

    factory = RealtimeFactory.from_config(settings.REALTIME_SPEECH_PROVIDER)   # or None
    session = factory.create(session_id=..., roster=..., tool_runner=..., emit=...,
                             output_sample_rate_hz=24000, history=..., active_agent=...,
                             resumed=..., tool_state=..., config=...)
    await session.start()     # raises RealtimeStartError (a ProviderStartError)

The session has the API and events of the cascade's ConversationSession.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from media.providers.base import ProviderCheck
from media.realtime.endpoint import RealtimeEndpoint
from media.realtime.session import RealtimeSession, RealtimeStartError

__all__ = ["RealtimeEndpoint", "RealtimeFactory", "RealtimeSession", "RealtimeStartError"]


class RealtimeFactory:
    """Makes one :class:`RealtimeSession` per conversation for a configured service."""

    def __init__(self, endpoint: RealtimeEndpoint) -> None:
        self.endpoint = endpoint

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RealtimeFactory | None:
        """The factory for a `REALTIME_SPEECH_PROVIDER` entry, or None when not configured."""
        if not config:
            return None
        options = dict(config.get("OPTIONS") or {})
        return cls(RealtimeEndpoint.from_options(**options))

    def create(self, **session_kwargs: Any) -> RealtimeSession:
        return RealtimeSession(endpoint=self.endpoint, **session_kwargs)

    def check(self) -> ProviderCheck:
        return self.endpoint.check()
