"""Writes: placing, answering and ending calls; applying the events ACS reports.

SDK requests are made outside database transactions (a slow ACS must not hold row locks), so
every write re-reads the call under a lock and never moves a call out of a final state: a
callback that overtakes the create response, or a redelivered event, cannot undo a hang-up.
"""

from calls.services.callbacks import CallbackOutcome, callback_events_process
from calls.services.common import (
    InvalidCallRequest,
    UnknownCall,
    event_name,
    identifier_display,
    resolve_streaming_mode,
    validate_e164,
)
from calls.services.keypad import (
    KeypadResult,
    keypad_collect_start,
    keypad_send,
    keypad_wait,
    session_keypad_collect,
)
from calls.services.lifecycle import (
    EventGridOutcome,
    TerminateOutcome,
    call_answer_incoming,
    call_answered_by_set,
    call_initiate,
    call_mark_media_connected,
    call_media_lost,
    call_terminate,
    call_terminate_async,
    event_grid_process,
)
from calls.services.recording import call_recording_start, call_recording_stop
from calls.services.simulated import call_simulated_create, call_simulated_end
from calls.services.transfer import (
    TransferOutcome,
    TransferStarted,
    call_transfer,
    session_transfer,
    transfer_outcome,
    transfer_wait,
)

__all__ = [
    "CallbackOutcome",
    "EventGridOutcome",
    "InvalidCallRequest",
    "KeypadResult",
    "TerminateOutcome",
    "TransferOutcome",
    "TransferStarted",
    "UnknownCall",
    "call_answer_incoming",
    "call_initiate",
    "call_answered_by_set",
    "call_mark_media_connected",
    "call_media_lost",
    "call_recording_start",
    "call_recording_stop",
    "call_simulated_create",
    "call_simulated_end",
    "call_terminate",
    "call_terminate_async",
    "call_transfer",
    "callback_events_process",
    "event_grid_process",
    "event_name",
    "identifier_display",
    "keypad_collect_start",
    "keypad_send",
    "keypad_wait",
    "resolve_streaming_mode",
    "session_keypad_collect",
    "session_transfer",
    "transfer_outcome",
    "transfer_wait",
    "validate_e164",
]
