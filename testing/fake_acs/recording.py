"""Call recording in the fake ACS: `/calling/recordings` (azure-protocols §2.2) and the
`RecordingStateChanged` / `StartRecordingFailed` callbacks (§4.3).

No audio is stored: the fake keeps each recording's state and the options it was started with,
which is what an app can observe of a real recording while the call lasts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from testing.fake_acs import events as ev
from testing.fake_acs.handler import AcsError

if TYPE_CHECKING:
    from testing.fake_acs.state import FakeCall

RECORDINGS_PREFIX = "/calling/recordings"
CONTENT_TYPES = {"audio", "audioVideo"}
CHANNEL_TYPES = {"mixed", "unmixed"}
FORMAT_TYPES = {"wav", "mp3", "mp4"}
BLOB_STORAGE = "azureBlobStorage"


@dataclass(slots=True)
class FakeRecording:
    recording_id: str
    call_connection_id: str
    state: str  # "active" | "inactive"
    callback_uri: str  # recordingStateCallbackUri, else the call's callbackUri
    request: dict  # StartCallRecordingRequest as received (wire names)
    start_date_time: str
    kind: str = "AzureCommunicationServices"
    stopped: bool = False

    def properties(self) -> dict:
        """RecordingStateResponse."""
        return {
            "recordingId": self.recording_id,
            "recordingState": self.state,
            "recordingKind": self.kind,
        }


def _start_request_error(body: Any) -> str | None:
    """What the service would reject in a StartCallRecordingRequest, or None."""
    if not isinstance(body, dict):
        return "A JSON body is required."
    locator = body.get("callLocator") or {}
    if not (locator.get("serverCallId") or body.get("callConnectionId")):
        return "callLocator.serverCallId or callConnectionId is required."
    content = body.get("recordingContentType", "audioVideo")
    channel = body.get("recordingChannelType", "mixed")
    file_format = body.get("recordingFormatType", "mp4")
    known = content in CONTENT_TYPES and channel in CHANNEL_TYPES and file_format in FORMAT_TYPES
    if not known:
        return f"Unsupported recording options {content}/{channel}/{file_format}."
    if channel == "unmixed" and (content != "audio" or file_format != "wav"):
        return "Unmixed recording needs audio content in wav format."
    storage = body.get("externalStorage")
    if storage:
        if storage.get("recordingStorageKind") != BLOB_STORAGE:
            return f"Unknown recordingStorageKind {storage.get('recordingStorageKind')!r}."
        if not str(storage.get("recordingDestinationContainerUrl") or "").startswith("https://"):
            return "recordingDestinationContainerUrl must be an https URL."
    return None


class RecordingOperations:
    """Mixed into `FakeAcsServer`. The public methods take the server's lock; the private ones
    run with it held (by `FakeAcsServer.handle` or `_disconnect`)."""

    calls: dict[str, FakeCall]
    recordings: dict[str, FakeRecording]
    _failed_recording_starts: list[str]

    def fail_next_recording(self, message: str = "Recording storage is not reachable.") -> None:
        """Accept the next start request, then report `StartRecordingFailed` (as ACS does when
        e.g. it cannot write to the Blob container). For an error answer use
        `fail_next("start_recording", ...)`."""
        with self._lock:
            self._failed_recording_starts.append(message)

    def recording_properties(self) -> list[dict]:
        """Every recording the fake holds, with the call it records."""
        with self._lock:
            return [
                {**r.properties(), "callConnectionId": r.call_connection_id}
                for r in self.recordings.values()
            ]

    def _handle_recording(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and path == RECORDINGS_PREFIX:
            return self._start_recording(body)
        recording_id, _, action = path[len(RECORDINGS_PREFIX) + 1 :].partition(":")
        recording = self.recordings.get(recording_id)
        if "/" in recording_id or recording is None:
            raise AcsError(404, "8522", f"Recording {recording_id} not found.")
        if method == "GET" and not action:
            return 200, recording.properties()
        if recording.stopped:
            raise AcsError(404, "8522", f"Recording {recording_id} already stopped.")
        if method == "DELETE" and not action:
            self._take_failure("stop_recording")
            recording.stopped = True
            self._recording_state(recording, "inactive")
            return 204, None
        if method == "POST" and action in ("pause", "resume"):
            self._take_failure(f"{action}_recording")
            self._recording_state(recording, "inactive" if action == "pause" else "active")
            return 202, None
        raise AcsError(404, "NotFound", f"No route {method} {path}.")

    def _start_recording(self, body: Any) -> tuple[int, Any]:
        self._take_failure("start_recording")
        problem = _start_request_error(body)
        if problem:
            raise AcsError(400, "BadRequest", problem)
        call = self._recorded_call(body)
        if call.state != "connected":
            raise AcsError(400, "8501", "Action is invalid when call is not in Established state.")
        if any(
            r.call_connection_id == call.call_connection_id and not r.stopped
            for r in self.recordings.values()
        ):
            raise AcsError(400, "8501", "A recording of this call is already in progress.")
        recording = FakeRecording(
            recording_id=str(uuid.uuid4()),
            call_connection_id=call.call_connection_id,
            state="inactive",
            callback_uri=body.get("recordingStateCallbackUri") or call.callback_uri,
            request=body,
            start_date_time=ev.now_iso(),
        )
        self.recordings[recording.recording_id] = recording
        answer = recording.properties()  # the recording becomes active after the answer
        failure = self._failed_recording_starts.pop(0) if self._failed_recording_starts else None
        if failure:
            recording.stopped = True
            self._recording_callback(
                recording,
                "StartRecordingFailed",
                recordingId=recording.recording_id,
                resultInformation=ev.result_information(500, 8583, failure),
            )
        else:
            self._recording_state(recording, "active")
        return 200, answer

    def _recorded_call(self, body: dict) -> FakeCall:
        call_connection_id = body.get("callConnectionId")
        if call_connection_id:
            return self._call_or_404(call_connection_id)
        server_call_id = (body.get("callLocator") or {}).get("serverCallId")
        for call in self.calls.values():
            if call.server_call_id == server_call_id and call.state != "disconnected":
                return call
        raise AcsError(404, "8522", f"No call with server call id {server_call_id}.")

    def _recording_state(self, recording: FakeRecording, state: str) -> None:
        """Change a recording's state and tell the app, as `RecordingStateChanged`."""
        if recording.state == state:
            return
        recording.state = state
        self._recording_callback(
            recording,
            "RecordingStateChanged",
            recordingId=recording.recording_id,
            state=state,
            startDateTime=recording.start_date_time,
            recordingKind=recording.kind,
        )

    def _recording_callback(self, recording: FakeRecording, name: str, **data) -> None:
        call = self.calls[recording.call_connection_id]
        event = self._event(call, name, **data)
        url = recording.callback_uri
        self._actions.put(lambda: self._post(url, [event], {}))

    def _stop_call_recordings(self, call: FakeCall) -> None:
        """A recording ends with its call."""
        for recording in self.recordings.values():
            if recording.call_connection_id == call.call_connection_id and not recording.stopped:
                recording.stopped = True
                self._recording_state(recording, "inactive")
