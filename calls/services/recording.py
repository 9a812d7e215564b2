"""Call recording: started when a call that asked for it connects, stopped when it is hung up.

A recording failure never fails the call: it is stored as a `StartRecordingFailed` event (from
ACS's callback, or made here when ACS refuses the start request) and the call goes on.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from calls import acs_client
from calls.models import Call, CallEvent, RecordingState
from calls.services.common import (
    EVENT_PREFIX,
    call_payload,
    event_insert,
    lock_call,
    relay_on_commit,
)
from voiceproject.celery import app as celery_app

logger = logging.getLogger(__name__)

RECORDING_STATE_CHANGED = "RecordingStateChanged"
START_RECORDING_FAILED = "StartRecordingFailed"
RECORDING_EVENTS = frozenset({RECORDING_STATE_CHANGED, START_RECORDING_FAILED})
RECORDING_START_TASK = "calls.tasks.call_recording_start"


def recording_start_queue(call: Call) -> None:
    """After the current transaction commits, start recording `call` in a Celery task (a
    worker with REDIS_URL, else eagerly in this thread), so the callback that connected the
    call is not held by a second ACS request.

    The task is found by its name (`calls.tasks` registers it at start-up): the tasks call
    the services, never the other way round.
    """
    task = celery_app.tasks[RECORDING_START_TASK]
    call_id = str(call.id)
    transaction.on_commit(lambda: task.delay(call_id=call_id), robust=True)


def call_recording_start(*, call_id: uuid.UUID | str) -> Call | None:
    """Ask ACS to record a connected call (audio, unmixed, WAV); never raises for ACS errors.

    Does nothing for a call that was not asked to be recorded, has ended, is already being
    recorded, or has no server call id yet. Returns the call, or None when it does not exist.
    """
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    if not call.record_call or call.is_final or call.recording_id or not call.server_call_id:
        logger.info(
            "call %s: not starting a recording (record_call=%s, status=%s, recording=%s)",
            call.call_connection_id,
            call.record_call,
            call.status,
            call.recording_id or "-",
        )
        return call
    try:
        props = acs_client.start_recording(server_call_id=call.server_call_id)
    except (acs_client.AcsRequestFailed, acs_client.AcsNotConfigured) as exc:
        logger.warning("call %s: recording did not start: %s", call.call_connection_id, exc)
        return _start_refused(call_id=call.pk, exc=exc)
    with transaction.atomic():
        call = lock_call(pk=call.pk)
        # A RecordingStateChanged callback may have overtaken this response: it is newer.
        call.recording_id = call.recording_id or str(props.recording_id or "")[:256]
        if not call.recording_state:
            call.recording_state = _state(props.recording_state) or RecordingState.INACTIVE
        call.save(update_fields=["recording_id", "recording_state", "updated_at"])
    logger.info(
        "call %s: recording %s started (%s)",
        call.call_connection_id,
        call.recording_id,
        call.recording_state,
    )
    return call


@transaction.atomic
def _start_refused(*, call_id: uuid.UUID, exc: Exception) -> Call | None:
    """Store ACS's refusal like the `StartRecordingFailed` callback it would otherwise send."""
    call = lock_call(pk=call_id)
    if call is None:
        return None
    status_code = getattr(exc, "status_code", None)
    payload = {
        "callConnectionId": call.call_connection_id,
        "serverCallId": call.server_call_id,
        "correlationId": call.correlation_id,
        "resultInformation": {
            "code": status_code or 0,
            "subCode": str(getattr(exc, "code", None) or ""),
            "message": str(exc),
        },
    }
    event = event_insert(
        event_id=f"app-{uuid.uuid4()}",
        event_type=EVENT_PREFIX + START_RECORDING_FAILED,
        source=CallEvent.Source.APP,
        payload=payload,
    )
    event.call = call
    event.save(update_fields=["call"])
    call.recording_state = RecordingState.FAILED
    call.save(update_fields=["recording_state", "updated_at"])
    relay_on_commit(call, call_payload(call, "start_recording_failed", reason=str(exc)))
    return call


def recording_event_apply(call: Call, short_type: str, data: dict) -> dict:
    """Apply `RecordingStateChanged` / `StartRecordingFailed` to the call (final or not: a
    recording stops after its call); returns extra fields for the relayed payload."""
    recording_id = str(data.get("recordingId") or "")[:256]
    if recording_id and not call.recording_id:
        call.recording_id = recording_id
    if short_type == START_RECORDING_FAILED:
        result = data.get("resultInformation") or {}
        reason = str(result.get("message") or "") if isinstance(result, dict) else ""
        call.recording_state = RecordingState.FAILED
        logger.warning("call %s: recording failed: %s", call.call_connection_id, reason)
        return {"recording_id": call.recording_id, "reason": reason or START_RECORDING_FAILED}
    if recording_id and recording_id != call.recording_id:
        return {"recording_id": recording_id}  # about another recording of the same call
    state = _state(data.get("state"))
    if state:
        call.recording_state = state
    return {"recording_id": call.recording_id, "recording_state": call.recording_state}


def call_recording_stop(call: Call) -> bool:
    """Stop the call's recording if it is active; True when it is known to have ended (stopped
    now, or already gone with its call). Never raises for ACS errors: hanging up matters more
    than a clean end of the recording."""
    if not call.recording_id or call.recording_state != RecordingState.ACTIVE:
        return False
    try:
        stopped = acs_client.stop_recording(call.recording_id)
    except (acs_client.AcsRequestFailed, acs_client.AcsNotConfigured) as exc:
        logger.warning(
            "call %s: recording %s did not stop: %s",
            call.call_connection_id,
            call.recording_id,
            exc,
        )
        return False
    logger.info(
        "call %s: recording %s stopped (%s)",
        call.call_connection_id,
        call.recording_id,
        "by request" if stopped else "already gone",
    )
    return True


def _state(value) -> str:
    value = str(value or "").lower()
    return value if value in (RecordingState.ACTIVE, RecordingState.INACTIVE) else ""
