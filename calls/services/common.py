"""Shared by the call services: errors, validation, row locking, event storage, relay."""

from __future__ import annotations

import logging
import re
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import E164_REGEX, Call, CallEvent, CallStatus
from calls.relay import call_envelope, relay_envelope
from media.modes import CALL_MODES, StreamMode

logger = logging.getLogger(__name__)

EVENT_PREFIX = "Microsoft.Communication."
EVENT_GRID_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
_E164 = re.compile(E164_REGEX)
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


class InvalidCallRequest(ValueError):
    """A request that can never succeed as given (bad number, unknown mode)."""


class UnknownCall(LookupError):
    """No call with that id."""


# --- small helpers -------------------------------------------------------------------------


def validate_e164(number: str) -> str:
    number = (number or "").strip()
    if not _E164.match(number):
        raise InvalidCallRequest(f"{number!r} is not an E.164 phone number (e.g. +14255550123).")
    return number


def resolve_streaming_mode(streaming_mode: str | None) -> str:
    mode = (streaming_mode or settings.ACS_STREAMING_MODE or StreamMode.MEDIA).lower()
    if mode not in CALL_MODES:
        raise InvalidCallRequest(f"streaming_mode {mode!r} is not one of {', '.join(CALL_MODES)}.")
    return mode


def event_name(event_type: str) -> str:
    """`Microsoft.Communication.CallConnected` → `call_connected`."""
    return _CAMEL_BOUNDARY.sub("_", event_type.rsplit(".", 1)[-1]).lower()


def identifier_display(identifier: dict | None) -> str:
    """An ACS CommunicationIdentifierModel as a phone number when it is one, else its raw id."""
    if not isinstance(identifier, dict):
        return ""
    phone = identifier.get("phoneNumber")
    if isinstance(phone, dict) and phone.get("value"):
        return str(phone["value"])
    raw_id = str(identifier.get("rawId") or "")
    return raw_id.removeprefix("4:") if raw_id.startswith("4:+") else raw_id


def relay_on_commit(call: Call, payload: dict) -> None:
    envelope = call_envelope(
        session_id=call.session_id, call_connection_id=call.call_connection_id, payload=payload
    )
    transaction.on_commit(lambda: relay_envelope(envelope))


def call_payload(call: Call, event_type: str, **extra) -> dict:
    payload = {
        "event_type": event_type,
        "call_connection_id": call.call_connection_id,
        "status": call.status,
        "direction": call.direction,
        "caller_id": call.from_number,
        "target_number": call.to_number,
        "streaming_mode": call.streaming_mode,
    }
    payload.update(extra)
    return payload


def apply_acs_properties(call: Call, props) -> None:
    call.call_connection_id = props.call_connection_id or call.call_connection_id
    call.server_call_id = props.server_call_id or call.server_call_id
    call.correlation_id = props.correlation_id or call.correlation_id
    call.session_id = call.session_id or call.call_connection_id


def lock_call(**lookup) -> Call | None:
    """The call matching `lookup`, locked for the rest of the transaction (None if absent).

    The lock is taken by writing first: on PostgreSQL the UPDATE locks the row like
    SELECT ... FOR UPDATE, and on SQLite (where FOR UPDATE does nothing) a transaction that
    reads before it writes fails at once with "database is locked" when another writer is
    active, while one that starts with a write waits for the lock.
    """
    if not Call.objects.filter(**lookup).update(updated_at=timezone.now()):
        return None
    return Call.objects.filter(**lookup).first()


@transaction.atomic
def call_fail(*, call_id: uuid.UUID, reason: str) -> Call:
    call = lock_call(pk=call_id)
    if not call.is_final:
        call.status = CallStatus.FAILED
        call.ended_at = timezone.now()
        call.disconnect_reason = reason[:512]
        call.save(update_fields=["status", "ended_at", "disconnect_reason", "updated_at"])
    return call


def event_insert(*, event_id: str, event_type: str, source: str, payload: dict):
    """Store an event unless its id is known: the insert comes first (see `lock_call`).

    Returns the new event, or None for a redelivery.
    """
    try:
        with transaction.atomic():
            return CallEvent.objects.create(
                event_id=event_id[:128], event_type=event_type[:128], source=source, payload=payload
            )
    except IntegrityError:
        return None
