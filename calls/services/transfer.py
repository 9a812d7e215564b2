"""Transferring a call to a person: cold (ACS hands the caller over) or warm (the person is
added, hears a summary, then this app leaves the call).

Each transfer has its own operation context (`transfer-<uuid>`), stored with the request as an
app event (`TransferRequested`), so the callbacks that answer it are matched to it:

- cold: `transfer_call_to_participant` → `CallTransferAccepted` (then ACS ends this app's leg:
  `CallDisconnected`) or `CallTransferFailed`;
- warm: `add_participant` → `AddParticipantSucceeded` → the summary is played to the person
  alone → `PlayCompleted` (or `PlayFailed`) → this app leaves the call, the caller and the
  person stay connected; or `AddParticipantFailed`.

:func:`transfer_outcome` reads how a transfer ended, for a tool that waits for it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from calls import acs_client
from calls.models import Call, CallEvent, CallStatus
from calls.services.common import (
    InvalidCallRequest,
    UnknownCall,
    call_payload,
    event_insert,
    relay_on_commit,
)

logger = logging.getLogger(__name__)

COLD, WARM = "cold", "warm"
TRANSFER_REQUESTED = "TransferRequested"
TRANSFER_EVENTS = frozenset(
    {
        "CallTransferAccepted",
        "CallTransferFailed",
        "AddParticipantSucceeded",
        "AddParticipantFailed",
        "PlayCompleted",
        "PlayFailed",
    }
)
# An E.164 number, or an ACS communication user id.
TARGET_RE = re.compile(r"^(\+[1-9][0-9]{1,14}|8:[A-Za-z0-9_\-:.]{3,250})$")
MAX_SUMMARY_CHARS = 1000


@dataclass(frozen=True, slots=True)
class TransferStarted:
    call: Call
    operation_context: str
    mode: str
    target: str


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """How a transfer ended: `transferred`, `failed`, or `pending` (no answer yet)."""

    state: str
    message: str = ""


def call_transfer(
    *, call_connection_id: str, target: str, mode: str = COLD, summary: str = ""
) -> TransferStarted:
    """Start transferring a connected call to `target` (E.164 or an ACS user id).

    Raises InvalidCallRequest (bad target or mode, the call is not connected), UnknownCall,
    acs_client.AcsNotConfigured or acs_client.AcsRequestFailed (stored as `TransferFailed`).
    """
    target = (target or "").strip()
    if not TARGET_RE.match(target):
        raise InvalidCallRequest("target must be an E.164 number or an ACS user id (8:acs:...).")
    if mode not in (COLD, WARM):
        raise InvalidCallRequest("mode must be cold or warm.")
    call = Call.objects.filter(call_connection_id=call_connection_id).first()
    if call is None or not call_connection_id:
        raise UnknownCall(f"No call with call_connection_id {call_connection_id!r}.")
    if call.status not in (CallStatus.CONNECTED, CallStatus.ON_HOLD):
        raise InvalidCallRequest(f"The call is {call.status}: only a connected call transfers.")
    acs_client.get_client()
    operation_context = f"transfer-{uuid.uuid4()}"
    summary = (summary or "").strip()[:MAX_SUMMARY_CHARS]
    _app_event(
        call,
        TRANSFER_REQUESTED,
        operationContext=operation_context,
        mode=mode,
        target=target,
        summary=summary,
    )
    try:
        if mode == COLD:
            acs_client.transfer_call(
                call_connection_id=call_connection_id,
                target=target,
                operation_context=operation_context,
            )
        else:
            acs_client.add_participant(
                call_connection_id=call_connection_id,
                target=target,
                operation_context=operation_context,
            )
    except acs_client.AcsRequestFailed as exc:
        _app_event(call, "TransferFailed", operationContext=operation_context, message=str(exc))
        raise
    logger.info("call %s: %s transfer to %s requested", call_connection_id, mode, target)
    return TransferStarted(call, operation_context, mode, target)


def _app_event(call: Call, name: str, **payload) -> None:
    """Store what this app did (or what ACS refused outright) with the call's events."""
    with transaction.atomic():
        event = event_insert(
            event_id=f"app-{uuid.uuid4()}",
            event_type=name,
            source=CallEvent.Source.APP,
            payload=payload,
        )
        event.call = call
        event.save(update_fields=["call"])
        relay_on_commit(call, call_payload(call, name.lower(), **_public(payload)))


def _public(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k in ("operationContext", "mode", "target")}


def transfer_event_apply(call: Call, short_type: str, data: dict) -> dict:
    """A transfer callback (in the callback's transaction); extra fields for the relay.

    The next step of a warm transfer (play the summary, leave) runs after the commit: SDK
    requests are never made inside a transaction.
    """
    context = str(data.get("operationContext") or "")
    request = _request(call, context)
    if request is None:
        return {}
    extra = {"operation_context": context, "target": request.get("target", "")}
    if short_type == "AddParticipantSucceeded" and request.get("mode") == WARM:
        summary = request.get("summary") or "A caller is being transferred to you."
        person = request["target"]
        transaction.on_commit(
            lambda: _play_summary(call.call_connection_id, summary, person, context)
        )
    elif short_type in ("PlayCompleted", "PlayFailed"):
        transaction.on_commit(lambda: _leave(call.call_connection_id))
    elif short_type == "CallTransferAccepted":
        call.disconnect_reason = f"transferred to {request.get('target', '')}"[:512]
    return extra


def _request(call: Call, operation_context: str) -> dict | None:
    if not operation_context.startswith("transfer-"):
        return None
    event = CallEvent.objects.filter(
        call=call, event_type=TRANSFER_REQUESTED, payload__operationContext=operation_context
    ).first()
    return event.payload if event else None


def _play_summary(call_connection_id: str, summary: str, person: str, context: str) -> None:
    try:
        acs_client.play_text(
            call_connection_id=call_connection_id,
            text=summary,
            play_to=person,
            operation_context=context,
        )
    except acs_client.AcsRequestFailed:
        logger.exception("call %s: the transfer summary could not be played", call_connection_id)
        _leave(call_connection_id)


def _leave(call_connection_id: str) -> None:
    try:
        acs_client.leave_call(call_connection_id)
    except acs_client.AcsRequestFailed:
        logger.exception("call %s: leaving after the transfer failed", call_connection_id)
    else:
        logger.info(
            "call %s: left the call to the person it was transferred to", call_connection_id
        )


def transfer_outcome(*, call_connection_id: str, operation_context: str) -> TransferOutcome:
    """How the transfer with `operation_context` ended, as the callbacks stored it."""
    types = set(
        CallEvent.objects.filter(
            call__call_connection_id=call_connection_id,
            payload__operationContext=operation_context,
        ).values_list("event_type", flat=True)
    )
    short = {t.rsplit(".", 1)[-1] for t in types}
    if short & {"CallTransferAccepted", "AddParticipantSucceeded"}:
        return TransferOutcome("transferred")
    if short & {"CallTransferFailed", "AddParticipantFailed", "TransferFailed"}:
        failed = (
            CallEvent.objects.filter(
                call__call_connection_id=call_connection_id,
                payload__operationContext=operation_context,
                event_type__in=[t for t in types if t.rsplit(".", 1)[-1].endswith("Failed")],
            )
            .values_list("payload", flat=True)
            .first()
        )
        return TransferOutcome("failed", _failure_message(failed or {}))
    return TransferOutcome("pending")


def _failure_message(payload: dict) -> str:
    result = payload.get("resultInformation") or {}
    return str(result.get("message") or payload.get("message") or "The transfer failed.")


def transfer_wait(
    *, call_connection_id: str, operation_context: str, timeout_s: float, poll_s: float = 0.2
) -> TransferOutcome:
    """Wait (blocking) until ACS says whether the transfer went through, or `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = transfer_outcome(
            call_connection_id=call_connection_id, operation_context=operation_context
        )
        if outcome.state != "pending" or time.monotonic() >= deadline:
            return outcome
        time.sleep(poll_s)


def session_transfer(*, session_id: str, summary: str = "") -> TransferOutcome | None:
    """Transfer the phone call carrying conversation `session_id` to `HUMAN_TRANSFER_TARGET`
    (`HUMAN_TRANSFER_MODE`) and wait up to `TRANSFER_WAIT_S` for ACS's answer. Blocking: for
    tools (worker threads).

    None when there is nothing to transfer: not a connected phone call, or ACS or the target
    not configured.
    """
    from calls.selectors import call_of_session

    if not (settings.HUMAN_TRANSFER_TARGET and acs_client.is_configured()):
        return None
    call = call_of_session(session_id=session_id)
    if call is None or call.status not in (CallStatus.CONNECTED, CallStatus.ON_HOLD):
        return None
    try:
        started = call_transfer(
            call_connection_id=call.call_connection_id,
            target=settings.HUMAN_TRANSFER_TARGET,
            mode=settings.HUMAN_TRANSFER_MODE,
            summary=summary,
        )
    except (InvalidCallRequest, UnknownCall, acs_client.AcsNotConfigured):
        logger.exception("session %s: the call cannot be transferred", session_id)
        return None
    except acs_client.AcsRequestFailed as exc:
        return TransferOutcome("failed", exc.message)
    return transfer_wait(
        call_connection_id=call.call_connection_id,
        operation_context=started.operation_context,
        timeout_s=settings.TRANSFER_WAIT_S,
    )
