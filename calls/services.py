"""Writes: placing, answering and ending calls; applying the events ACS reports.

SDK requests are made outside database transactions (a slow ACS must not hold row locks), so
every write re-reads the call under a lock and never moves a call out of a final state: a
callback that overtakes the create response, or a redelivered event, cannot undo a hang-up.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls import acs_client
from calls.models import E164_REGEX, Call, CallEvent, CallStatus, StreamingMode
from calls.relay import call_envelope, relay_envelope

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
    mode = (streaming_mode or settings.ACS_STREAMING_MODE or StreamingMode.MEDIA).lower()
    if mode not in StreamingMode.values:
        raise InvalidCallRequest(
            f"streaming_mode {mode!r} is not one of {', '.join(StreamingMode.values)}."
        )
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


def _relay_on_commit(call: Call, payload: dict) -> None:
    envelope = call_envelope(
        session_id=call.session_id, call_connection_id=call.call_connection_id, payload=payload
    )
    transaction.on_commit(lambda: relay_envelope(envelope))


def _call_payload(call: Call, event_type: str, **extra) -> dict:
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


def _apply_acs_properties(call: Call, props) -> None:
    call.call_connection_id = props.call_connection_id or call.call_connection_id
    call.server_call_id = props.server_call_id or call.server_call_id
    call.correlation_id = props.correlation_id or call.correlation_id
    call.session_id = call.session_id or call.call_connection_id


def _lock_call(**lookup) -> Call | None:
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
def _call_fail(*, call_id: uuid.UUID, reason: str) -> Call:
    call = _lock_call(pk=call_id)
    if not call.is_final:
        call.status = CallStatus.FAILED
        call.ended_at = timezone.now()
        call.disconnect_reason = reason[:512]
        call.save(update_fields=["status", "ended_at", "disconnect_reason", "updated_at"])
    return call


# --- outbound --------------------------------------------------------------------------------


def call_initiate(
    *,
    target_number: str,
    streaming_mode: str | None = None,
    record_call: bool = False,
    browser_session_id: str = "",
) -> Call:
    """Dial a phone number through ACS and record the call.

    Raises InvalidCallRequest, acs_client.AcsNotConfigured or acs_client.AcsRequestFailed (the
    call is then stored as failed with ACS's reason).
    """
    target_number = validate_e164(target_number)
    mode = resolve_streaming_mode(streaming_mode)
    source_number = settings.ACS_SOURCE_PHONE_NUMBER
    if not source_number:
        raise acs_client.AcsNotConfigured("Set ACS_SOURCE_PHONE_NUMBER to place calls.")
    acs_client.get_client()  # configuration errors before anything is stored
    call = Call(
        direction=Call.Direction.OUTBOUND,
        from_number=source_number,
        to_number=target_number,
        status=CallStatus.INITIATING,
        streaming_mode=mode,
        record_call=record_call,
        browser_session_id=browser_session_id,
        session_id=browser_session_id,
    )
    call.full_clean()
    call.save()
    try:
        props = acs_client.create_call(
            target_number=target_number,
            source_number=source_number,
            operation_context=str(call.id),
            streaming_mode=mode,
        )
    except acs_client.AcsRequestFailed as exc:
        logger.warning("outbound call %s to %s failed: %s", call.id, target_number, exc)
        _call_fail(call_id=call.id, reason=str(exc))
        raise
    with transaction.atomic():
        call = _lock_call(pk=call.id)
        _apply_acs_properties(call, props)
        if call.status == CallStatus.INITIATING:
            call.status = CallStatus.RINGING
        call.save()
    logger.info("call %s: dialing %s (%s)", call.call_connection_id, target_number, mode)
    return call


# --- inbound (Event Grid) ------------------------------------------------------------------


@dataclass(slots=True)
class EventGridOutcome:
    validation_code: str | None = None
    answered: list[Call] = field(default_factory=list)
    ignored: int = 0


def event_grid_process(*, events: list[dict], record_call: bool = False) -> EventGridOutcome:
    """Handle an Event Grid delivery: the subscription handshake or incoming calls."""
    outcome = EventGridOutcome()
    for event in events:
        event_type = str(event.get("eventType") or event.get("type") or "")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        if event_type == EVENT_GRID_VALIDATION:
            code = data.get("validationCode")
            if not code:
                raise InvalidCallRequest("SubscriptionValidationEvent without data.validationCode.")
            outcome.validation_code = str(code)
            return outcome
        if event_type == INCOMING_CALL:
            outcome.answered.append(
                call_answer_incoming(
                    event_id=str(event.get("id") or ""), data=data, record_call=record_call
                )
            )
        else:
            outcome.ignored += 1
    return outcome


def call_answer_incoming(*, event_id: str, data: dict, record_call: bool = False) -> Call:
    """Answer one `IncomingCall` with media streaming; a redelivered event is not re-answered."""
    context = data.get("incomingCallContext")
    if not event_id or not context:
        raise InvalidCallRequest("IncomingCall needs an event id and data.incomingCallContext.")
    mode = resolve_streaming_mode(None)
    acs_client.get_client()
    with transaction.atomic():
        event = _event_insert(
            event_id=event_id,
            event_type=INCOMING_CALL,
            source=CallEvent.Source.EVENT_GRID,
            payload=data,
        )
        if event is None:
            event = CallEvent.objects.select_related("call").get(event_id=event_id)
            if event.call is None:
                raise InvalidCallRequest(f"event {event_id} is not an incoming call.")
            logger.info("incoming call event %s redelivered; already handled", event_id)
            return event.call
        call = Call.objects.create(
            direction=Call.Direction.INBOUND,
            from_number=identifier_display(data.get("from"))[:256],
            to_number=identifier_display(data.get("to"))[:256],
            caller_display_name=str(data.get("callerDisplayName") or "")[:256],
            server_call_id=str(data.get("serverCallId") or "")[:1024],
            correlation_id=str(data.get("correlationId") or "")[:128],
            status=CallStatus.RINGING,
            streaming_mode=mode,
            record_call=record_call,
        )
        event.call = call
        event.save(update_fields=["call"])
    try:
        props = acs_client.answer_call(
            incoming_call_context=str(context), operation_context=str(call.id), streaming_mode=mode
        )
    except acs_client.AcsRequestFailed as exc:
        logger.warning("incoming call %s: answer failed: %s", call.id, exc)
        _call_fail(call_id=call.id, reason=str(exc))
        raise
    with transaction.atomic():
        call = _lock_call(pk=call.id)
        _apply_acs_properties(call, props)
        call.save()
    logger.info("call %s: answered %s (%s)", call.call_connection_id, call.from_number, mode)
    return call


# --- hang up ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TerminateOutcome:
    call: Call
    already_ended: bool


def call_terminate(*, call_connection_id: str, reason: str = "normal") -> TerminateOutcome:
    """Hang up for everyone. Idempotent: a call that already ended keeps its final state."""
    call = (
        Call.objects.filter(call_connection_id=call_connection_id).first()
        if (call_connection_id)
        else None
    )
    if call is None:
        raise UnknownCall(f"No call with call_connection_id {call_connection_id!r}.")
    if call.is_final:
        return TerminateOutcome(call=call, already_ended=True)
    known_to_acs = acs_client.hang_up(call_connection_id)
    with transaction.atomic():
        call = _lock_call(pk=call.pk)
        if call.is_final:
            return TerminateOutcome(call=call, already_ended=True)
        call.status = CallStatus.DISCONNECTED
        call.ended_at = timezone.now()
        call.disconnect_reason = (
            f"terminated: {reason}" if known_to_acs else f"terminated: {reason} (already gone)"
        )[:512]
        call.save(update_fields=["status", "ended_at", "disconnect_reason", "updated_at"])
        _relay_on_commit(call, _call_payload(call, "call_disconnected", reason=reason))
    logger.info("call %s: hung up (%s)", call_connection_id, reason)
    return TerminateOutcome(call=call, already_ended=False)


async def call_terminate_async(
    *, call_connection_id: str, reason: str = "normal"
) -> TerminateOutcome:
    """`call_terminate` for consumers: the SDK request and the writes run in a worker thread
    (not the shared sync thread, so a slow ACS delays no other socket)."""
    from channels.db import database_sync_to_async

    return await database_sync_to_async(call_terminate, thread_sensitive=False)(
        call_connection_id=call_connection_id, reason=reason
    )


# --- media socket ----------------------------------------------------------------------------


@transaction.atomic
def call_mark_media_connected(*, call_connection_id: str, connected: bool = True) -> bool:
    """Record that the ACS media socket of a call opened (or closed).

    Returns False when no call has that id.
    """
    call = _lock_call(call_connection_id=call_connection_id) if call_connection_id else None
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


# --- callbacks -------------------------------------------------------------------------------


@dataclass(slots=True)
class CallbackOutcome:
    processed: int = 0
    duplicates: int = 0
    failed: int = 0
    unknown_call: int = 0
    call_connection_ids: list[str] = field(default_factory=list)


def _find_call_for_update(data: dict) -> Call | None:
    """The call a callback is about: by call connection id, else by our operation context.

    The operation context matters for the first callbacks of an outbound call, which may
    arrive before the create response has told us the call connection id.
    """
    call_connection_id = str(data.get("callConnectionId") or "")
    if call_connection_id:
        found = _lock_call(call_connection_id=call_connection_id)
        if found:
            return found
    try:
        call_id = uuid.UUID(str(data.get("operationContext") or ""))
    except ValueError:
        return None
    call = _lock_call(pk=call_id)
    if call and call_connection_id and not call.call_connection_id:
        call.call_connection_id = call_connection_id
        call.session_id = call.session_id or call_connection_id
    return call


def _apply_event(call: Call, short_type: str, data: dict) -> dict:
    """Move the call's state for one event; returns extra fields for the relayed payload."""
    now = timezone.now()
    result = data.get("resultInformation") or {}
    message = str(result.get("message") or "") if isinstance(result, dict) else ""
    call.server_call_id = call.server_call_id or str(data.get("serverCallId") or "")[:1024]
    call.correlation_id = call.correlation_id or str(data.get("correlationId") or "")[:128]
    if call.is_final:
        return {}
    if short_type == "CallConnected":
        call.status = CallStatus.CONNECTED
        call.connected_at = call.connected_at or now
        return {"message": "Call connected"}
    if short_type == "CallDisconnected":
        call.status = CallStatus.DISCONNECTED
        call.ended_at = now
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


def _event_insert(*, event_id: str, event_type: str, source: str, payload: dict):
    """Store an event unless its id is known: the insert comes first (see `_lock_call`).

    Returns the new event, or None for a redelivery.
    """
    try:
        with transaction.atomic():
            return CallEvent.objects.create(
                event_id=event_id[:128], event_type=event_type[:128], source=source, payload=payload
            )
    except IntegrityError:
        return None


def _callback_event_apply(*, event_id: str, event_type: str, data: dict) -> str:
    """One event; returns "duplicate", "unknown_call" or the call connection id."""
    try:
        return _callback_event_apply_atomic(event_id=event_id, event_type=event_type, data=data)
    except _UnknownCallRollback:
        return "unknown_call"


@transaction.atomic
def _callback_event_apply_atomic(*, event_id: str, event_type: str, data: dict) -> str:
    event = _event_insert(
        event_id=event_id, event_type=event_type, source=CallEvent.Source.CALLBACK, payload=data
    )
    if event is None:
        return "duplicate"
    call = _find_call_for_update(data)
    if call is None:
        raise _UnknownCallRollback
    event.call = call
    event.save(update_fields=["call"])
    short_type = event_type.rsplit(".", 1)[-1]
    previous = call.status
    extra = _apply_event(call, short_type, data)
    call.save()
    if call.status != previous:
        logger.info(
            "call %s: %s → %s (%s)", call.call_connection_id, previous, call.status, short_type
        )
    _relay_on_commit(call, _call_payload(call, event_name(event_type), **extra))
    return call.call_connection_id
