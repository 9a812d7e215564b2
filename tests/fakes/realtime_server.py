"""The fake realtime service for tests (Voice Live and OpenAI realtime event protocols).

It lives in `media.realtime.fake_server` so that users can run it too
(`python -m media.realtime.fake_server`); tests import it from either place.
"""

from media.realtime.fake_server import (
    FakeRealtimeConnection,
    FakeRealtimeServer,
    Reply,
    default_respond,
    default_transcribe,
)

__all__ = [
    "FakeRealtimeConnection",
    "FakeRealtimeServer",
    "Reply",
    "default_respond",
    "default_transcribe",
]
