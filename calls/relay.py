"""Call events on the channel layer, as envelopes the dashboards and conversation pages read.

Groups: `session.<session_id>` for one conversation, `dashboard.all` for every session. The
message is `{"type": "relay.envelope", "envelope": {...}}`; the envelope has the original's
shape `{type, topic, session_id, call_id, user_id, sender, ts, payload, speaker_id}`.
"""

from __future__ import annotations

import logging
import re

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

logger = logging.getLogger(__name__)

DASHBOARD_GROUP = "dashboard.all"
RELAY_MESSAGE_TYPE = "relay.envelope"
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9\-_.]")
_GROUP_MAX_LENGTH = 99  # channels refuses group names of 100 characters or more


def session_group(session_id: str) -> str:
    """Channel-layer group of one conversation session (unsafe characters replaced)."""
    return ("session." + _GROUP_UNSAFE.sub("_", session_id))[:_GROUP_MAX_LENGTH]


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


def relay_envelope(envelope: dict) -> None:
    """Send an envelope to its session's group and to the dashboards (from sync code).

    A relay failure (a stopped Redis) is logged and never fails the request that caused it:
    the event is already stored.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": RELAY_MESSAGE_TYPE, "envelope": envelope}
    groups = [DASHBOARD_GROUP]
    if envelope.get("session_id"):
        groups.insert(0, session_group(envelope["session_id"]))
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            logger.exception("call %s: relay to %s failed", envelope.get("call_id"), group)
