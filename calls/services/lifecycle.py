"""Placing, answering and ending calls, and the media socket's state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls import acs_client
from calls.models import Call, CallEvent, CallStatus, RecordingState
from calls.services.common import (
    EVENT_GRID_VALIDATION,
    INCOMING_CALL,
    InvalidCallRequest,
    UnknownCall,
    apply_acs_properties,
    call_fail,
    call_payload,
    event_insert,
    identifier_display,
    lock_call,
    relay_on_commit,
    resolve_streaming_mode,
    validate_e164,
)
from calls.services.recording import call_recording_stop

logger = logging.getLogger(__name__)

# --- outbound --------------------------------------------------------------------------------


def call_initiate(
    *,
    target_number: str,
    streaming_mode: str | None = None,
    record_call: bool = False,
    browser_session_id: str = "",
    voicemail_message: str | None = None,
) -> Call:
    """Dial a phone number through ACS and record the call.

    `voicemail_message` (default `VOICEMAIL_MESSAGE`; "" for none): screen who answers and
    leave this message on a voicemail box instead of starting the agent.

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
        voicemail_message=(
            settings.VOICEMAIL_MESSAGE if voicemail_message is None else voicemail_message
        ).strip(),
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
        call_fail(call_id=call.id, reason=str(exc))
        raise
    with transaction.atomic():
        call = lock_call(pk=call.id)
        apply_acs_properties(call, props)
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
        event = event_insert(
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
        call_fail(call_id=call.id, reason=str(exc))
        raise
    with transaction.atomic():
        call = lock_call(pk=call.id)
        apply_acs_properties(call, props)
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
    # Stopped before the hang-up so the recording ends on the app's request, not on ACS noticing
    # the call is gone; a failure to stop does not keep the call up.
    recording_ended = call_recording_stop(call)
    known_to_acs = acs_client.hang_up(call_connection_id)
    with transaction.atomic():
        call = lock_call(pk=call.pk)
        if recording_ended and call.recording_state == RecordingState.ACTIVE:
            call.recording_state = RecordingState.INACTIVE
            call.save(update_fields=["recording_state", "updated_at"])
        if call.is_final:
            return TerminateOutcome(call=call, already_ended=True)
        call.status = CallStatus.DISCONNECTED
        call.ended_at = timezone.now()
        call.disconnect_reason = (
            f"terminated: {reason}" if known_to_acs else f"terminated: {reason} (already gone)"
        )[:512]
        call.save(update_fields=["status", "ended_at", "disconnect_reason", "updated_at"])
        relay_on_commit(call, call_payload(call, "call_disconnected", reason=reason))
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
def call_answered_by_set(*, call_connection_id: str, answered_by: str, reason: str = "") -> bool:
    """Record who picked up a screened outbound call (`Call.AnsweredBy`) and tell the dashboard.

    Returns False when no call has that id.
    """
    call = lock_call(call_connection_id=call_connection_id) if call_connection_id else None
    if call is None:
        return False
    call.answered_by = Call.AnsweredBy(answered_by)
    call.save(update_fields=["answered_by", "updated_at"])
    relay_on_commit(
        call, call_payload(call, "call_answered_by", answered_by=answered_by, reason=reason)
    )
    logger.info("call %s: answered by %s (%s)", call_connection_id, answered_by, reason)
    return True


@transaction.atomic
def call_mark_media_connected(*, call_connection_id: str, connected: bool = True) -> bool:
    """Record that the ACS media socket of a call opened (or closed).

    Returns False when no call has that id.
    """
    call = lock_call(call_connection_id=call_connection_id) if call_connection_id else None
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


def call_media_lost(*, call_connection_id: str, reason: str) -> Call | None:
    """The server process holding the call's media stream stopped: nothing answers the caller.

    The call is hung up through Call Automation (ACS would keep the caller on a silent line)
    and recorded as disconnected with `reason`. When ACS cannot be asked (none configured, as
    for a simulated call, or the request failed) the call is only recorded as disconnected.
    Idempotent: a call already in a final state is left as it is. None for an unknown call.
    """
    if not call_mark_media_connected(call_connection_id=call_connection_id, connected=False):
        return None
    try:
        return call_terminate(call_connection_id=call_connection_id, reason=reason).call
    except (acs_client.AcsNotConfigured, acs_client.AcsRequestFailed) as exc:
        logger.warning("call %s: not hung up through ACS (%s)", call_connection_id, exc)
    with transaction.atomic():
        call = lock_call(call_connection_id=call_connection_id)
        if call.is_final:
            return call
        call.status = CallStatus.DISCONNECTED
        call.ended_at = timezone.now()
        call.disconnect_reason = reason[:512]
        call.save(update_fields=["status", "ended_at", "disconnect_reason", "updated_at"])
        relay_on_commit(call, call_payload(call, "call_disconnected", reason=reason))
    logger.info("call %s: recorded as disconnected (%s)", call_connection_id, reason)
    return call
