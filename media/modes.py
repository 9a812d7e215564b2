"""The streaming modes: what a conversation's socket carries and who answers the caller.

One vocabulary for calls, the media socket, the browser socket, settings and the API. The values
are wire values (query strings, stored rows, JSON), so they never change. This module imports
nothing of the project and no model, so settings and the engine's glue can use it.
"""

from __future__ import annotations

from django.db.models import TextChoices


class StreamMode(TextChoices):
    """A conversation's streaming mode; the first three are the modes of a phone call."""

    MEDIA = "media", "Media (speech cascade)"
    TRANSCRIPTION = "transcription", "Transcription only"
    VOICE_LIVE = "voice_live", "Voice Live (realtime)"
    REALTIME = "realtime", "Speech cascade (browser)"

    @property
    def sample_rate_hz(self) -> int:
        """PCM rate of the call's audio: Voice Live speaks 24 kHz, so ACS is asked for it."""
        return 24000 if self is StreamMode.VOICE_LIVE else 16000


# What the media socket of an ACS call carries (`Call.streaming_mode`, `ACS_STREAMING_MODE`).
CALL_MODES = (StreamMode.MEDIA, StreamMode.TRANSCRIPTION, StreamMode.VOICE_LIVE)
CALL_MODE_CHOICES = [(mode.value, mode.label) for mode in CALL_MODES]
# What the browser conversation socket accepts (`?streaming_mode=`); `realtime` is the cascade.
BROWSER_MODES = (StreamMode.REALTIME, StreamMode.VOICE_LIVE)
# The modes a `media.conversation.Conversation` runs: a call's audio modes and the browser's.
CONVERSATION_MODES = (StreamMode.REALTIME, StreamMode.MEDIA, StreamMode.VOICE_LIVE)
