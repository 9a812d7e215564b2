"""Background jobs of calls. Without REDIS_URL they run eagerly in the caller's process."""

from __future__ import annotations

from celery import shared_task

from calls import services
from calls.services.recording import RECORDING_START_TASK


@shared_task(name=RECORDING_START_TASK)
def call_recording_start(call_id: str) -> str:
    """Start recording a connected call (it asked to be recorded); returns its recording state."""
    call = services.call_recording_start(call_id=call_id)
    return call.recording_state if call else ""
