"""Call events on the channel layer, as envelopes the dashboards and conversation pages read.

Groups: `session.<session_id>` for one conversation, `dashboard.all` for every session. The
message is `{"type": "relay.envelope", "envelope": {...}}`; the envelope has the original's
shape `{type, topic, session_id, call_id, user_id, sender, ts, payload, speaker_id}`.
"""

from __future__ import annotations

from django.utils import timezone

from browser.relay import DASHBOARD_GROUP, relay_envelope, session_group

__all__ = ["DASHBOARD_GROUP", "call_envelope", "relay_envelope", "session_group"]


def call_envelope(*, session_id: str, call_connection_id: str, payload: dict) -> dict:
    return {
        "type": "event",
        "topic": "call",
        "session_id": session_id,
        "call_id": call_connection_id,
        "user_id": None,
        "sender": "System",
        "ts": timezone.now().isoformat(),
        "payload": payload,
        "speaker_id": None,
    }
