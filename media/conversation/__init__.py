"""One conversation, hosted for a transport: the glue between a consumer and the engine.

A consumer (browser or ACS media socket) opens a :class:`Conversation` and only decodes and
encodes frames. The conversation builds the agent roster, restores and saves the session's
state, makes the providers (TTS from the process-wide pool), picks the realtime service for
`voice_live` when one is configured (the cascade otherwise) (`setup`), persists turns, and
relays every event but audio to the dashboards through the channel layer (`observers`).

Ordering: events reach the consumer's `emit` in engine order. Persistence is handed to the
metrics writer thread and relay messages to one background task, so neither ever delays an
audio frame.
"""

from media.conversation.core import Conversation, ConversationStartError
from media.speech import (
    PooledTTS,
    phrase_cache_warm,
    provider_factory,
    realtime_factory,
    session_providers,
    tts_cache_key,
)

__all__ = [
    "Conversation",
    "ConversationStartError",
    "PooledTTS",
    "phrase_cache_warm",
    "provider_factory",
    "realtime_factory",
    "session_providers",
    "tts_cache_key",
]
