"""Keypad (DTMF) operations in the fake ACS: `:recognize` with DTMF options and
`:sendDtmfTones` (azure-protocols §2.2), answered by `RecognizeCompleted` / `RecognizeFailed`
and `SendDtmfTonesCompleted` (§4.3).

A recognition waits for the caller: `press(call_id, "1234#")` completes it with the tones ACS
would report; `recognize_times_out(call_id)` fails it as nothing was pressed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testing.fake_acs import events as ev
from testing.fake_acs.handler import AcsError

if TYPE_CHECKING:
    from testing.fake_acs.state import FakeCall

TONE_NAMES = {
    **dict(
        zip(
            "0123456789",
            ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
            strict=True,
        )
    ),
    "*": "asterisk",
    "#": "pound",
}
# resultInformation of the outcomes (Call Automation's documented sub-codes).
MAX_TONES = (200, 8514, "Action completed, max digits received.")
STOP_TONE = (200, 8514, "Action completed, stop tone detected.")
SILENCE_TIMEOUT = (400, 8510, "Action failed, initial silence timeout reached.")


class KeypadOperations:
    """Mixed into `FakeAcsServer`; the private methods run with the server's lock held."""

    calls: dict[str, FakeCall]

    def press(self, call_connection_id: str, keys: str) -> None:
        """The caller presses `keys` during a recognition: it completes as ACS reports it."""
        with self._lock:
            call = self._call_or_404(call_connection_id)
            request = call.recognizing
            if request is None:
                raise AssertionError(f"call {call_connection_id}: nothing is listening for keys")
            options = request["recognizeOptions"].get("dtmfOptions") or {}
            stop = [t for t in options.get("stopTones") or []]
            limit = int(options.get("maxTonesToCollect") or 1)
            tones, result = [], MAX_TONES
            for key in keys:
                tone = TONE_NAMES[key]
                if tone in stop:
                    result = STOP_TONE
                    break
                tones.append(tone)
                if len(tones) == limit:
                    break
            call.recognizing = None
            self._queue_callbacks(
                call,
                [
                    self._event(
                        call,
                        "RecognizeCompleted",
                        operation_context=request.get("operationContext"),
                        recognitionType="dtmf",
                        dtmfResult={"tones": tones},
                        resultInformation=ev.result_information(*result),
                    )
                ],
            )

    def recognize_times_out(self, call_connection_id: str) -> None:
        """Nothing was pressed: the recognition fails."""
        with self._lock:
            call = self._call_or_404(call_connection_id)
            request, call.recognizing = call.recognizing, None
            if request is None:
                raise AssertionError(f"call {call_connection_id}: nothing is listening for keys")
            self._queue_callbacks(
                call,
                [
                    self._event(
                        call,
                        "RecognizeFailed",
                        operation_context=request.get("operationContext"),
                        resultInformation=ev.result_information(*SILENCE_TIMEOUT),
                    )
                ],
            )

    def _keypad_action(self, call: FakeCall, action: str, body: Any) -> tuple[int, Any] | None:
        if action == "recognize":
            return self._recognize(call, body)
        if action == "sendDtmfTones":
            return self._send_tones(call, body)
        return None

    def _recognize(self, call: FakeCall, body: Any) -> tuple[int, Any]:
        self._take_failure("recognize")
        options = (body or {}).get("recognizeOptions") or {}
        if (body or {}).get("recognizeInputType") not in (
            "dtmf",
            "speech",
            "speechOrDtmf",
            "choices",
        ):
            raise AcsError(400, "BadRequest", "recognizeInputType is required.")
        if not isinstance(options.get("targetParticipant"), dict):
            raise AcsError(400, "BadRequest", "recognizeOptions.targetParticipant is required.")
        if call.state != "connected":
            raise AcsError(400, "8501", "Action is invalid when call is not in Established state.")
        if call.recognizing is not None:
            raise AcsError(400, "8583", "A recognize operation is already running.")
        call.recognizing = body
        return 202, None

    def _send_tones(self, call: FakeCall, body: Any) -> tuple[int, Any]:
        self._take_failure("send_dtmf")
        tones = (body or {}).get("tones")
        if not isinstance(tones, list) or not tones:
            raise AcsError(400, "BadRequest", "tones are required.")
        if call.state != "connected":
            raise AcsError(400, "8501", "Action is invalid when call is not in Established state.")
        call.sent_tones.extend(tones)
        context = body.get("operationContext")
        self._queue_callbacks(
            call,
            [
                self._event(
                    call,
                    "SendDtmfTonesCompleted",
                    operation_context=context,
                    resultInformation=ev.result_information(),
                )
            ],
        )
        return 202, {"operationContext": context}
