"""A conversation held by a realtime speech-to-speech service (Azure Voice Live, OpenAI realtime).

:class:`RealtimeSession` has the API and the events of the cascade's
:class:`~media.engine.session.ConversationSession`, so a transport cannot tell them apart: the
service does turn detection, recognition, the model and the voice; this class bridges audio
both ways, runs the agents' tools locally, switches agents on handoff, paces the service's
audio at real time and handles barge-in.

The package, one class per module: `core` (:class:`RealtimeSession`: public API, connection,
outbound events, dispatch of the service's events), `turns` (`RealtimeTurns`: the service's
speech, transcript and response events, turns, barge-in, reports and history; and
`RealtimeHost`, what the parts need of the session), `tools` (`RealtimeTools`: tool calls and
handoffs), `state` (what is tracked per response and per turn).
"""

from media.realtime.session.core import RealtimeSession
from media.realtime.session.state import RealtimeStartError

__all__ = ["RealtimeSession", "RealtimeStartError"]
