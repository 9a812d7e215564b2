"""Call Automation callbacks: stored once per event id, applied to the call, relayed."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import Call, CallEvent, CallStatus
from calls.services.common import (
    call_payload,
    event_insert,
    event_name,
    identifier_display,
    lock_call,
    relay_on_commit,
)
from calls.services.keypad import KEYPAD_EVENTS, keypad_event_apply, keypad_payload_scrub
from calls.services.recording import (
    RECORDING_EVENTS,
    recording_event_apply,
    recording_start_queue,
)
from calls.services.transfer import TRANSFER_EVENTS, transfer_event_apply

logger = logging.getLogger(__name__)

# --- callbacks -------------------------------------------------------------------------------


@dataclass(slots=True)
class CallbackOutcome:
    processed: int = 0
    duplicates: int = 0
    failed: int = 0
    unknown_call: int = 0
    call_connection_ids: list[str] = field(default_factory=list)


def _find_call_for_update(data: dict) -> Call | None:
    """The call a callback is about: by call connection id, else by our operation context,
    else (recording events sent to the recording state callback URL) by recording id or
    server call id.

    The operation context matters for the first callbacks of an outbound call, which may
    arrive before the create response has told us the call connection id.
    """
    call_connection_id = str(data.get("callConnectionId") or "")
    if call_connection_id:
        found = lock_call(call_connection_id=call_connection_id)
        if found:
            return found
    try:
        call_id = uuid.UUID(str(data.get("operationContext") or ""))
    except ValueError:
        return _find_recorded_call_for_update(data)
    call = lock_call(pk=call_id)
    if call and call_connection_id and not call.call_connection_id:
        call.call_connection_id = call_connection_id
        call.session_id = call.session_id or call_connection_id
    return call


def _find_recorded_call_for_update(data: dict) -> Call | None:
    recording_id = str(data.get("recordingId") or "")
    server_call_id = str(data.get("serverCallId") or "")
    if recording_id:
        found = lock_call(recording_id=recording_id)
        if found:
            return found
    if server_call_id and (recording_id or "recordingId" in data):
        # The newest call on that server call that asked to be recorded (a server call can
        # hold several call connections).
        latest = (
            Call.objects.filter(server_call_id=server_call_id, record_call=True)
            .order_by("-created_at")
            .values_list("pk", flat=True)
            .first()
        )
        return lock_call(pk=latest) if latest else None
    return None


def _apply_event(call: Call, short_type: str, data: dict) -> dict:
    """Move the call's state for one event; returns extra fields for the relayed payload."""
    now = timezone.now()
    result = data.get("resultInformation") or {}
    message = str(result.get("message") or "") if isinstance(result, dict) else ""
    call.server_call_id = call.server_call_id or str(data.get("serverCallId") or "")[:1024]
    call.correlation_id = call.correlation_id or str(data.get("correlationId") or "")[:128]
    if short_type in RECORDING_EVENTS:
        return recording_event_apply(call, short_type, data)
    if call.is_final:
        return {}
    if short_type in TRANSFER_EVENTS:
        return transfer_event_apply(call, short_type, data)
    if short_type in KEYPAD_EVENTS:
        return keypad_event_apply(call, short_type, data)
    if short_type == "CallConnected":
        call.status = CallStatus.CONNECTED
        call.connected_at = call.connected_at or now
        return {"message": "Call connected"}
    if short_type == "CallDisconnected":
        call.status = CallStatus.DISCONNECTED
        call.ended_at = now
        if not call.disconnect_reason.startswith("transferred to "):
            call.disconnect_reason = (message or "disconnected")[:512]
        return {"reason": call.disconnect_reason}
    if short_type in {"CreateCallFailed", "AnswerFailed", "ConnectFailed"}:
        call.status = CallStatus.FAILED
        call.ended_at = now
        call.disconnect_reason = (message or short_type)[:512]
        return {"reason": call.disconnect_reason}
    if short_type == "ParticipantsUpdated":
        participants = data.get("participants") or []
        on_hold = any(isinstance(p, dict) and p.get("isOnHold") for p in participants)
        if on_hold and call.status == CallStatus.CONNECTED:
            call.status = CallStatus.ON_HOLD
        elif not on_hold and call.status == CallStatus.ON_HOLD:
            call.status = CallStatus.CONNECTED
        return {
            "participants": [
                identifier_display(p.get("identifier")) for p in participants if isinstance(p, dict)
            ]
        }
    return {}


def callback_events_process(*, events: list) -> CallbackOutcome:
    """Store and apply Call Automation CloudEvents; redelivered event ids change nothing."""
    outcome = CallbackOutcome()
    for raw in events:
        if not isinstance(raw, dict):
            outcome.failed += 1
            continue
        event_id = str(raw.get("id") or "")
        event_type = str(raw.get("type") or raw.get("eventType") or "")
        data = raw.get("data")
        if not event_id or not event_type or not isinstance(data, dict):
            outcome.failed += 1
            continue
        try:
            status = _callback_event_apply(event_id=event_id, event_type=event_type, data=data)
        except IntegrityError:
            status = "duplicate"  # a concurrent delivery of the same event won the insert
        if status == "unknown_call":
            outcome.unknown_call += 1
            logger.warning(
                "callback %s for unknown call %s", event_type, data.get("callConnectionId")
            )
        elif status == "duplicate":
            outcome.duplicates += 1
        else:
            outcome.processed += 1
            if status not in outcome.call_connection_ids:
                outcome.call_connection_ids.append(status)
    return outcome


class _UnknownCallRollback(Exception):
    """Undo the stored event of a callback about no known call."""


def _callback_event_apply(*, event_id: str, event_type: str, data: dict) -> str:
    """One event; returns "duplicate", "unknown_call" or the call connection id."""
    try:
        return _callback_event_apply_atomic(event_id=event_id, event_type=event_type, data=data)
    except _UnknownCallRollback:
        return "unknown_call"


@transaction.atomic
def _callback_event_apply_atomic(*, event_id: str, event_type: str, data: dict) -> str:
    short_type = event_type.rsplit(".", 1)[-1]
    event = event_insert(
        event_id=event_id,
        event_type=event_type,
        source=CallEvent.Source.CALLBACK,
        payload=keypad_payload_scrub(short_type, data),  # never the keys a caller pressed
    )
    if event is None:
        return "duplicate"
    call = _find_call_for_update(data)
    if call is None:
        raise _UnknownCallRollback
    event.call = call
    event.save(update_fields=["call"])
    previous = call.status
    extra = _apply_event(call, short_type, data)
    call.save()
    first_connect = previous in (CallStatus.INITIATING, CallStatus.RINGING)
    if short_type == "CallConnected" and first_connect and call.record_call:
        recording_start_queue(call)
    if call.status != previous:
        logger.info(
            "call %s: %s → %s (%s)", call.call_connection_id, previous, call.status, short_type
        )
    relay_on_commit(call, call_payload(call, event_name(event_type), **extra))
    return call.call_connection_id
