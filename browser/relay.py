"""The dashboard relay on the channel layer: group names and the one message producers send.

Every producer (conversations, transcription-only calls, ACS callbacks) sends
`{"type": "relay.envelope", "envelope": {...}}` to the group of the envelope's session,
`session.<session_id>`, and to `dashboard.all`; the relay consumer forwards the envelope to
its dashboards. Through channels-redis this works across server processes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

DASHBOARD_GROUP = "dashboard.all"
RELAY_MESSAGE_TYPE = "relay.envelope"
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9\-_.]")
_GROUP_MAX_LENGTH = 99  # channels refuses group names of 100 characters or more


def group_name(prefix: str, session_id: str) -> str:
    """A channel-layer group name: `prefix` and the id, unsafe characters replaced."""
    return (prefix + _GROUP_UNSAFE.sub("_", session_id))[:_GROUP_MAX_LENGTH]


def session_group(session_id: str) -> str:
    """Channel-layer group of one conversation session (unsafe characters replaced)."""
    return group_name("session.", session_id)


def _groups(envelope: dict[str, Any]) -> list[str]:
    session_id = envelope.get("session_id")
    return [session_group(session_id), DASHBOARD_GROUP] if session_id else [DASHBOARD_GROUP]


async def relay_envelope_async(envelope: dict[str, Any]) -> None:
    """Send an envelope to its session's group and to every dashboard.

    A relay failure (a stopped Redis) is logged and never ends the call or conversation that
    produced it: what matters is already stored.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": RELAY_MESSAGE_TYPE, "envelope": envelope}
    for group in _groups(envelope):
        try:
            await layer.group_send(group, message)
        except Exception:
            logger.exception(
                "session %s: relay to %s failed", envelope.get("session_id") or "-", group
            )


def relay_envelope(envelope: dict[str, Any]) -> None:
    """:func:`relay_envelope_async` for sync code (HTTP views, services)."""
    async_to_sync(relay_envelope_async)(envelope)
