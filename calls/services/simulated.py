"""Call records for `simulate_call`: a caller simulated on the media socket, without ACS."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from calls.models import Call


@transaction.atomic
def call_simulated_create(
    *,
    streaming_mode: str,
    from_number: str = "+14255550100",
    to_number: str = "+14255550199",
    session_id: str = "",
) -> tuple[str, str]:
    """A connected inbound call record for `simulate_call`, as if ACS had answered one.

    Returns `(call_connection_id, session_id)`. Used when no ACS (real or fake) is configured,
    so that the media socket accepts the simulated caller.
    """
    call_connection_id = f"sim-{uuid.uuid4()}"
    call = Call(
        call_connection_id=call_connection_id,
        server_call_id=f"sim-server-{uuid.uuid4().hex}",
        correlation_id=str(uuid.uuid4()),
        direction=Call.Direction.INBOUND,
        from_number=from_number,
        to_number=to_number,
        status=Call.Status.CONNECTED,
        connected_at=timezone.now(),  # answered at once: the call's duration counts from here
        streaming_mode=streaming_mode,
        session_id=session_id or call_connection_id,
        caller_display_name="simulate_call",
    )
    call.full_clean()
    call.save()
    return call_connection_id, call.session_id


@transaction.atomic
def call_simulated_end(*, call_connection_id: str) -> None:
    """Mark a simulated call as hung up."""
    Call.objects.filter(call_connection_id=call_connection_id).exclude(
        status__in=Call.FINAL_STATUSES
    ).update(
        status=Call.Status.DISCONNECTED,
        ended_at=timezone.now(),
        disconnect_reason="simulate_call hung up",
    )
