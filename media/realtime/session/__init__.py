"""A conversation held by a realtime speech-to-speech service (Azure Voice Live, OpenAI realtime).

:class:`RealtimeSession` has the API and the events of the cascade's
:class:`~media.engine.session.ConversationSession`, so a transport cannot tell them apart: the
service does turn detection, recognition, the model and the voice; this class bridges audio
both ways, runs the agents' tools locally, switches agents on handoff, paces the service's
audio at real time and handles barge-in.

The package: `core` (the session: public API, connection, outbound events), `inbound` (the
service's events), `tools` (tool calls and handoffs), `turns` (turns, barge-in, metrics and
history), `state` (what the session tracks per response and per turn).
"""

from media.realtime.session.core import RealtimeSession
from media.realtime.session.state import RealtimeStartError

__all__ = ["RealtimeSession", "RealtimeStartError"]
