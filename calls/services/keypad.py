"""Keypad menus on a phone call: collecting digits the caller presses (a PIN, the last digits
of an account) through Call Automation's DTMF recognition, and pressing keys towards an IVR.

Collected digits are secrets: the stored callback keeps how many keys were pressed, never
which; they are logged nowhere and relayed nowhere. They wait in the cache (shared by the
server processes with Redis) for the tool that asked, which takes them once
(:func:`keypad_wait`) and uses them itself: they never reach the LLM's context.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache

from calls import acs_client
from calls.models import Call, CallDirection, CallEvent, CallStatus
from calls.services.common import InvalidCallRequest, UnknownCall, event_insert

KEYPAD_EVENTS = frozenset(
    {"RecognizeCompleted", "RecognizeFailed", "SendDtmfTonesCompleted", "SendDtmfTonesFailed"}
)
CONTEXT_PREFIX = "keypad-"
DIGITS_TTL_S = 300


@dataclass(frozen=True, slots=True)
class KeypadResult:
    """`received` (with the digits), `failed` (with ACS's reason) or `pending`."""

    state: str
    digits: str = ""
    message: str = ""


def _connected(call_connection_id: str) -> Call:
    call = Call.objects.filter(call_connection_id=call_connection_id).first()
    if call is None or not call_connection_id:
        raise UnknownCall(f"No call with call_connection_id {call_connection_id!r}.")
    if call.status not in (CallStatus.CONNECTED, CallStatus.ON_HOLD):
        raise InvalidCallRequest(f"The call is {call.status}: keys work on a connected call.")
    return call


def _caller(call: Call) -> str:
    return call.to_number if call.direction == CallDirection.OUTBOUND else call.from_number


def keypad_collect_start(
    *,
    call_connection_id: str,
    prompt: str,
    max_digits: int,
    timeout_s: int = 10,
    inter_digit_timeout_s: int = 5,
) -> str:
    """Speak `prompt` and collect up to `max_digits` keys (`#` ends early); the operation
    context to wait on with :func:`keypad_wait`."""
    if not 1 <= max_digits <= 20:
        raise InvalidCallRequest("max_digits must be 1-20.")
    call = _connected(call_connection_id)
    context = f"{CONTEXT_PREFIX}{uuid.uuid4()}"
    event = event_insert(
        event_id=f"app-{uuid.uuid4()}",
        event_type="KeypadRequested",
        source=CallEvent.Source.APP,
        payload={"operationContext": context, "max_digits": max_digits},
    )
    event.call = call
    event.save(update_fields=["call"])
    acs_client.recognize_dtmf(
        call_connection_id=call_connection_id,
        caller=_caller(call),
        prompt=prompt,
        max_digits=max_digits,
        timeout_s=timeout_s,
        inter_digit_timeout_s=inter_digit_timeout_s,
        operation_context=context,
    )
    return context


def keypad_send(*, call_connection_id: str, digits: str, to: str = "") -> str:
    """Press `digits` (0-9, *, #, A-D) towards `to` (default: the other party), e.g. to walk
    an IVR after a transfer; the operation context of `SendDtmfTonesCompleted`."""
    digits = digits.strip().upper()
    if not digits or len(digits) > 18 or any(d not in acs_client.TONES for d in digits):
        raise InvalidCallRequest("digits must be 1-18 of 0-9, *, # and A-D.")
    call = _connected(call_connection_id)
    context = f"{CONTEXT_PREFIX}send-{uuid.uuid4()}"
    acs_client.send_dtmf(
        call_connection_id=call_connection_id,
        digits=digits,
        to=to or _caller(call),
        operation_context=context,
    )
    return context


def keypad_payload_scrub(short_type: str, data: dict) -> dict:
    """A callback's payload as stored: a recognition's tones replaced by their count."""
    if short_type != "RecognizeCompleted" or not isinstance(data.get("dtmfResult"), dict):
        return data
    stored = copy.deepcopy(data)
    tones = stored["dtmfResult"].pop("tones", None) or []
    stored["dtmfResult"]["toneCount"] = len(tones)
    return stored


def keypad_event_apply(call: Call, short_type: str, data: dict) -> dict:
    """A keypad callback: the digits of a recognition wait in the cache for their tool."""
    context = str(data.get("operationContext") or "")
    if short_type != "RecognizeCompleted" or not context.startswith(CONTEXT_PREFIX):
        return {}
    tones = (data.get("dtmfResult") or {}).get("tones") or []
    digits = "".join(acs_client.DIGITS.get(str(t).lower(), "") for t in tones)
    cache.set(_cache_key(context), digits, DIGITS_TTL_S)
    return {"digits_received": len(digits)}


def _cache_key(context: str) -> str:
    return f"calls:keypad:{context}"


def keypad_wait(*, operation_context: str, timeout_s: float, poll_s: float = 0.2) -> KeypadResult:
    """Wait (blocking) for the keys of a recognition; the digits are handed out once."""
    deadline = time.monotonic() + timeout_s
    while True:
        digits = cache.get(_cache_key(operation_context))
        if digits is not None:
            cache.delete(_cache_key(operation_context))
            return KeypadResult("received", digits)
        failed = (
            CallEvent.objects.filter(
                event_type__endswith="RecognizeFailed",
                payload__operationContext=operation_context,
            )
            .values_list("payload", flat=True)
            .first()
        )
        if failed is not None:
            message = (failed.get("resultInformation") or {}).get("message") or "No keys pressed."
            return KeypadResult("failed", message=message)
        if time.monotonic() >= deadline:
            return KeypadResult("pending")
        time.sleep(poll_s)


def session_keypad_collect(
    *, session_id: str, prompt: str, max_digits: int, timeout_s: int = 10
) -> KeypadResult | None:
    """Collect keys on the phone call carrying conversation `session_id` and wait for them.
    Blocking: for tools (worker threads). None when it is not a connected phone call or ACS
    is not configured."""
    from calls.selectors import call_of_session

    if not acs_client.is_configured():
        return None
    call = call_of_session(session_id=session_id)
    if call is None or call.status not in (CallStatus.CONNECTED, CallStatus.ON_HOLD):
        return None
    inter_digit_timeout_s = 5
    context = keypad_collect_start(
        call_connection_id=call.call_connection_id,
        prompt=prompt,
        max_digits=max_digits,
        timeout_s=timeout_s,
        inter_digit_timeout_s=inter_digit_timeout_s,
    )
    # The prompt, the first key, then the others: ACS answers by then at the latest.
    wait_s = timeout_s + inter_digit_timeout_s * max_digits + 15
    return keypad_wait(operation_context=context, timeout_s=wait_s)
