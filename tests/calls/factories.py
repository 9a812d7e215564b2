"""Call rows for tests that do not need ACS to create them."""

from __future__ import annotations

import itertools
import uuid

from calls.models import Call

_numbers = itertools.count(1000)


def make_call(**fields) -> Call:
    call_connection_id = fields.pop("call_connection_id", None) or str(uuid.uuid4())
    defaults = {
        "direction": Call.Direction.OUTBOUND,
        "from_number": "+14255550100",
        "to_number": f"+1425555{next(_numbers):04d}",
        "status": Call.Status.CONNECTED,
        "session_id": call_connection_id,
    }
    defaults.update(fields)
    return Call.objects.create(call_connection_id=call_connection_id, **defaults)


def cloud_event(call: Call, name: str, *, event_id: str | None = None, **data) -> dict:
    """A Call Automation callback event about `call`, as ACS posts it."""
    from testing.fake_acs.events import cloud_event as build

    event = build(
        name,
        call_connection_id=call.call_connection_id,
        server_call_id=call.server_call_id or "scid",
        correlation_id=call.correlation_id or "corr",
        **data,
    )
    if event_id:
        event["id"] = event_id
    return event
