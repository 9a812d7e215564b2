"""Transfers in the fake ACS: `:transferToParticipant`, `/participants:add`, `:play` (the
summary of a warm transfer) and the app leaving a call (`DELETE`), with the callbacks ACS sends
for them (azure-protocols §2.2, §4.3): `CallTransferAccepted` / `CallTransferFailed`,
`AddParticipantSucceeded` / `AddParticipantFailed` (+ `ParticipantsUpdated`),
`PlayStarted` / `PlayCompleted`.

A target listed with `unreachable()` does not answer: its transfer or invitation fails the way
ACS reports a callee who does not pick up.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from testing.fake_acs import events as ev
from testing.fake_acs.handler import AcsError

if TYPE_CHECKING:
    from testing.fake_acs.state import FakeCall

# What ACS reports when the callee does not answer (resultInformation of the failure).
NO_ANSWER = (408, 5006, "The transfer target did not answer.")


def _raw_id(identifier: Any) -> str:
    if not isinstance(identifier, dict):
        return ""
    phone = identifier.get("phoneNumber") or {}
    if phone.get("value"):
        return f"4:{phone['value']}"
    return str(identifier.get("rawId") or (identifier.get("communicationUser") or {}).get("id"))


def _model(identifier: dict) -> dict:
    """The identifier as ACS echoes it in callbacks (kind and rawId filled in)."""
    raw_id = _raw_id(identifier)
    return ev.identifier(raw_id[2:] if raw_id.startswith("4:") else raw_id)


class TransferOperations:
    """Mixed into `FakeAcsServer`; the private methods run with the server's lock held."""

    calls: dict[str, FakeCall]
    _unreachable: set[str]

    def unreachable(self, *targets: str) -> None:
        """These numbers (E.164) or ACS user ids never answer a transfer or an invitation."""
        with self._lock:
            self._unreachable.update(targets)

    def _transfer_action(self, call: FakeCall, action: str, body: Any) -> tuple[int, Any] | None:
        """The transfer routes of one call; None when `action` is not one of them."""
        if action == "transferToParticipant":
            return self._transfer(call, body)
        if action == "participants:add":
            return self._add_participant(call, body)
        if action == "play":
            return self._play(call, body)
        return None

    def _established(self, call: FakeCall) -> None:
        if call.state != "connected":
            raise AcsError(400, "8501", "Action is invalid when call is not in Established state.")

    def _is_unreachable(self, identifier: dict) -> bool:
        raw_id = _raw_id(identifier)
        return raw_id in self._unreachable or raw_id.removeprefix("4:") in self._unreachable

    def _transfer(self, call: FakeCall, body: Any) -> tuple[int, Any]:
        self._take_failure("transfer")
        target = (body or {}).get("targetParticipant")
        if not isinstance(target, dict):
            raise AcsError(400, "BadRequest", "targetParticipant is required.")
        self._established(call)
        context = body.get("operationContext")
        if self._is_unreachable(target):
            code, sub_code, message = NO_ANSWER
            self._queue_callbacks(
                call,
                [
                    self._event(
                        call,
                        "CallTransferFailed",
                        operation_context=context,
                        resultInformation=ev.result_information(code, sub_code, message),
                    )
                ],
            )
            return 202, {"operationContext": context}
        transferee = call.source if call.direction == "inbound" else (call.targets or [None])[0]
        call.transferred_to = _model(target)
        self._queue_callbacks(
            call,
            [
                self._event(
                    call,
                    "CallTransferAccepted",
                    operation_context=context,
                    transferTarget=_model(target),
                    transferee=transferee,
                    resultInformation=ev.result_information(
                        message="The call was transferred successfully."
                    ),
                )
            ],
        )
        # The caller now talks to the target: this app's leg of the call ends.
        self._disconnect(call, "The call was transferred.")
        return 202, {"operationContext": context}

    def _add_participant(self, call: FakeCall, body: Any) -> tuple[int, Any]:
        self._take_failure("add_participant")
        person = (body or {}).get("participantToAdd")
        if not isinstance(person, dict):
            raise AcsError(400, "BadRequest", "participantToAdd is required.")
        self._established(call)
        context = body.get("operationContext")
        invitation_id = str(uuid.uuid4())
        participant = {"identifier": _model(person), "isMuted": False, "isOnHold": False}
        if self._is_unreachable(person):
            code, sub_code, message = NO_ANSWER
            events = [
                self._event(
                    call,
                    "AddParticipantFailed",
                    operation_context=context,
                    participant=_model(person),
                    invitationId=invitation_id,
                    resultInformation=ev.result_information(code, sub_code, message),
                )
            ]
        else:
            call.added_participants.append(participant)
            everyone = [
                {"identifier": ident, "isMuted": False, "isOnHold": False}
                for ident in [*(call.targets or []), *([call.source] if call.source else [])]
            ] + call.added_participants
            events = [
                self._event(
                    call,
                    "AddParticipantSucceeded",
                    operation_context=context,
                    participant=_model(person),
                    invitationId=invitation_id,
                    resultInformation=ev.result_information(),
                ),
                self._event(call, "ParticipantsUpdated", sequenceNumber=2, participants=everyone),
            ]
        self._queue_callbacks(call, events)
        answer = {
            "participant": participant,
            "operationContext": context,
            "invitationId": invitation_id,
        }
        return 202, answer

    def _play(self, call: FakeCall, body: Any) -> tuple[int, Any]:
        self._take_failure("play")
        sources = (body or {}).get("playSources")
        if not isinstance(sources, list) or not sources:
            raise AcsError(400, "BadRequest", "playSources is required.")
        self._established(call)
        context = body.get("operationContext")
        call.played.append({"playSources": sources, "playTo": body.get("playTo") or []})
        self._queue_callbacks(
            call,
            [
                self._event(call, "PlayStarted", operation_context=context),
                self._event(
                    call,
                    "PlayCompleted",
                    operation_context=context,
                    resultInformation=ev.result_information(message="Action completed."),
                ),
            ],
        )
        return 202, None

    def _leave(self, call: FakeCall) -> tuple[int, Any]:
        """`hang_up(is_for_everyone=False)`: the app's leg ends; with someone added, the
        others stay on the call."""
        self._take_failure("leave")
        if call.state == "disconnected":
            raise AcsError(404, "8522", "Call already disconnected.")
        call.app_left = True
        self._disconnect(call, "This app left the call.")
        return 204, None
