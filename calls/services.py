"""Writes: call records, their state, and the events ACS reports."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from calls.models import Call

logger = logging.getLogger(__name__)


@transaction.atomic
def call_mark_media_connected(*, call_connection_id: str, connected: bool = True) -> bool:
    """Record that the ACS media socket of a call opened (or closed).

    Returns False when no call has that id.
    """
    call = Call.objects.select_for_update().filter(call_connection_id=call_connection_id).first()
    if call is None:
        return False
    now = timezone.now()
    if connected:
        call.media_connected_at = now
        call.media_disconnected_at = None
        fields = ["media_connected_at", "media_disconnected_at", "updated_at"]
    else:
        call.media_disconnected_at = now
        fields = ["media_disconnected_at", "updated_at"]
    call.save(update_fields=fields)
    logger.info("call %s media socket %s", call_connection_id, "open" if connected else "closed")
    return True
