"""A fake ACS Call Automation service on loopback, for tests and for running without Azure.

It speaks the REST wire protocol the real SDK uses (azure-protocols §2): the routes of the
SDK methods with their exact success codes, HMAC-signed requests checked with the access key,
error bodies `{error: {code, message}}`. It keeps call state, posts CloudEvents callbacks to
each call's `callbackUri` (§4), opens the media socket through a hook (§1.5), and makes the
Event Grid `IncomingCall` events of calls that ring (§3).

Callbacks and media sockets are *actions* run in order, by a worker thread
(`auto_deliver=True`, like the real service) or when a test calls `flush()` (deterministic:
nothing reaches the app while the test itself is touching the database).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
import uuid
from http.server import ThreadingHTTPServer
from typing import Any

from testing.fake_acs import events as ev
from testing.fake_acs.event_grid import Delivery, post_events
from testing.fake_acs.handler import AcsError, RestHandler
from testing.fake_acs.keypad import KeypadOperations
from testing.fake_acs.media import MediaStreamHook, MediaStreamRequest, open_media_socket
from testing.fake_acs.recording import RECORDINGS_PREFIX, FakeRecording, RecordingOperations
from testing.fake_acs.signing import AcsJwtSigner, new_access_key
from testing.fake_acs.state import FakeCall, IncomingCallInvite, RecordedRequest
from testing.fake_acs.transfer import TransferOperations

logger = logging.getLogger(__name__)

CALLS_PREFIX = "/calling/callConnections"


class FakeAcsServer(RecordingOperations, TransferOperations, KeypadOperations):
    """The fake service. Use as a context manager, or `start()` / `stop()`.

    Args:
        access_key: HMAC key the SDK signs with (random when omitted); see `connection_string`.
        auto_deliver: run callbacks and media sockets from a worker thread as they happen;
            when False they wait for `flush()`.
        auto_answer_outbound: the dialled phone picks up at once (else `answer_outbound()`).
        jwt_signer: sign callbacks and media sockets like ACS, and serve `/calling/keys`.
        on_media_stream: called (in its own thread) for every stream ACS would open; a
            coroutine function is run with `asyncio.run`. None: never open media sockets.
        verify_hmac: reject requests whose HMAC signature does not verify (401).
    """

    def __init__(
        self,
        *,
        access_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        auto_deliver: bool = True,
        auto_answer_outbound: bool = True,
        jwt_signer: AcsJwtSigner | None = None,
        on_media_stream: MediaStreamHook | None = open_media_socket,
        verify_hmac: bool = True,
    ) -> None:
        self.access_key = access_key or new_access_key()
        self.auto_deliver = auto_deliver
        self.auto_answer_outbound = auto_answer_outbound
        self.jwt_signer = jwt_signer
        self.on_media_stream = on_media_stream
        self.verify_hmac = verify_hmac
        self.calls: dict[str, FakeCall] = {}
        self.invites: dict[str, IncomingCallInvite] = {}
        self.recordings: dict[str, FakeRecording] = {}
        self._failed_recording_starts: list[str] = []
        self._unreachable: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[Delivery] = []
        self._failures: dict[str, list[AcsError]] = {}
        self._lock = threading.RLock()
        self._actions: queue.Queue = queue.Queue()
        self._httpd = ThreadingHTTPServer((host, port), RestHandler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._threads: list[threading.Thread] = []
        self._media_threads: list[threading.Thread] = []

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def connection_string(self) -> str:
        """For `ACS_CONNECTION_STRING`: the app parses it and keeps the http scheme."""
        return f"endpoint={self.endpoint}/;accesskey={self.access_key}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/calling/keys"

    def start(self) -> FakeAcsServer:
        serve = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fake-acs", daemon=True
        )
        serve.start()
        self._threads.append(serve)
        if self.auto_deliver:
            worker = threading.Thread(target=self._run_actions, name="fake-acs-events", daemon=True)
            worker.start()
            self._threads.append(worker)
        return self

    def stop(self) -> None:
        with self._lock:
            for call in self.calls.values():
                self._end_media(call)
        self._actions.put(None)
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._media_threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeAcsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- test and operator controls ----------------------------------------------------------

    def record_request(
        self, method: str, path: str, query: str, headers: dict[str, str], body: Any
    ) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers, body))

    def call_properties(self) -> list[dict]:
        """Every call the fake holds, as CallConnectionProperties."""
        with self._lock:
            return [call.properties() for call in self.calls.values()]

    def get_call(self, call_connection_id: str) -> FakeCall | None:
        with self._lock:
            return self.calls.get(call_connection_id)

    def ring(
        self, *, from_number: str, to_number: str, caller_display_name: str = ""
    ) -> IncomingCallInvite:
        """A caller dials the ACS number: returns the invite and its Event Grid event."""
        context = "fake-icc-" + uuid.uuid4().hex
        server_call_id = "fake-scid-" + uuid.uuid4().hex
        correlation_id = str(uuid.uuid4())
        invite = IncomingCallInvite(
            incoming_call_context=context,
            from_number=from_number,
            to_number=to_number,
            server_call_id=server_call_id,
            correlation_id=correlation_id,
            event=ev.incoming_call_event(
                from_number=from_number,
                to_number=to_number,
                incoming_call_context=context,
                server_call_id=server_call_id,
                correlation_id=correlation_id,
                caller_display_name=caller_display_name,
            ),
        )
        with self._lock:
            self.invites[context] = invite
        return invite

    def answer_outbound(self, call_connection_id: str) -> None:
        """The dialled phone picks up (with `auto_answer_outbound=False`)."""
        with self._lock:
            call = self._call_or_404(call_connection_id)
            if call.state == "connecting":
                self._connect(call)

    def hang_up_from_caller(self, call_connection_id: str) -> None:
        """The phone on the other end hangs up."""
        with self._lock:
            call = self._call_or_404(call_connection_id)
            if call.state != "disconnected":
                self._disconnect(call, "The remote participant hung up.")

    def fail_next(self, operation: str, *, status: int, code: str, message: str) -> None:
        """Answer the next `operation` ("create", "answer", "terminate", "start_recording",
        "stop_recording", ...) with an error."""
        with self._lock:
            self._failures.setdefault(operation, []).append(AcsError(status, code, message))

    def send_callback(self, call_connection_id: str, name: str, **data) -> None:
        """Queue any callback event (e.g. `PlayCompleted`) for a call."""
        with self._lock:
            call = self._call_or_404(call_connection_id)
            self._queue_callbacks(call, [self._event(call, name, **data)])

    def flush(self, timeout_s: float = 10.0) -> list[Delivery]:
        """Run queued actions now (manual mode) or wait until the worker ran them (auto mode).

        Returns the deliveries made meanwhile.
        """
        before = len(self.deliveries)
        if self.auto_deliver:
            done = threading.Event()
            self._actions.put(done.set)
            done.wait(timeout_s)
        else:
            while True:
                try:
                    action = self._actions.get_nowait()
                except queue.Empty:
                    break
                if action is not None:
                    action()
        return self.deliveries[before:]

    def wait_media_closed(self, timeout_s: float = 10.0) -> None:
        for thread in list(self._media_threads):
            thread.join(timeout_s)

    # --- Event Grid --------------------------------------------------------------------------

    def post_event_grid(self, url: str, events: list[dict], *, validation: bool = False):
        """Deliver Event Grid events to a webhook, as Event Grid does."""
        header = "SubscriptionValidation" if validation else "Notification"
        return self._post(url, events, {"aeg-event-type": header})

    # --- call state (hold self._lock) --------------------------------------------------------

    def _call_or_404(self, call_connection_id: str) -> FakeCall:
        call = self.calls.get(call_connection_id)
        if call is None:
            raise AcsError(404, "8522", f"Call {call_connection_id} not found.")
        return call

    def _take_failure(self, operation: str) -> None:
        pending = self._failures.get(operation)
        if pending:
            raise pending.pop(0)

    def _event(
        self, call: FakeCall, name: str, *, operation_context: str | None = None, **data
    ) -> dict:
        """A callback about `call`; an operation's own context, else the call's."""
        return ev.cloud_event(
            name,
            call_connection_id=call.call_connection_id,
            server_call_id=call.server_call_id,
            correlation_id=call.correlation_id,
            operation_context=operation_context or call.operation_context,
            **data,
        )

    def _connect(self, call: FakeCall) -> None:
        call.state = "connected"
        participants = [
            {"identifier": ident, "isMuted": False, "isOnHold": False}
            for ident in [*(call.targets or []), *([call.source] if call.source else [])]
        ]
        events = [
            self._event(call, "CallConnected"),
            self._event(call, "ParticipantsUpdated", sequenceNumber=1, participants=participants),
        ]
        streams = self._media_requests(call)
        if streams and any(s.kind == "media" for s in streams):
            events.append(
                self._event(
                    call,
                    "MediaStreamingStarted",
                    mediaStreamingUpdate={
                        "contentType": "Audio",
                        "mediaStreamingStatus": "mediaStreamingStarted",
                        "mediaStreamingStatusDetails": "subscriptionStarted",
                    },
                    resultInformation=ev.result_information(),
                )
            )
        if any(s.kind == "transcription" for s in streams):
            events.append(
                self._event(
                    call,
                    "TranscriptionStarted",
                    transcriptionUpdate={
                        "transcriptionStatus": "transcriptionStarted",
                        "transcriptionStatusDetails": "subscriptionStarted",
                    },
                    resultInformation=ev.result_information(),
                )
            )
        self._queue_callbacks(call, events)
        for stream in streams:
            call.media_streams.append(stream)
            self._actions.put(lambda s=stream: self._start_media(s))

    def _media_requests(self, call: FakeCall) -> list[MediaStreamRequest]:
        streams = []
        headers = {
            "x-ms-call-connection-id": call.call_connection_id,
            "x-ms-call-correlation-id": call.correlation_id,
        }
        options = call.media_streaming or {}
        if options.get("startMediaStreaming") and options.get("transportUrl"):
            audio_format = str(options.get("audioFormat") or "pcm16KMono")
            streams.append(
                MediaStreamRequest(
                    url=options["transportUrl"],
                    call_connection_id=call.call_connection_id,
                    correlation_id=call.correlation_id,
                    kind="media",
                    audio_format=audio_format,
                    sample_rate_hz=24000 if "24" in audio_format else 16000,
                    bidirectional=bool(options.get("enableBidirectional")),
                    headers=dict(headers),
                    hangup=call.hangup,
                )
            )
        transcription = call.transcription or {}
        if transcription.get("startTranscription") and transcription.get("transportUrl"):
            streams.append(
                MediaStreamRequest(
                    url=transcription["transportUrl"],
                    call_connection_id=call.call_connection_id,
                    correlation_id=call.correlation_id,
                    kind="transcription",
                    audio_format="",
                    sample_rate_hz=16000,
                    bidirectional=False,
                    headers=dict(headers),
                    hangup=call.hangup,
                )
            )
        return streams

    def _disconnect(self, call: FakeCall, message: str) -> None:
        streaming = call.state == "connected" and any(s.kind == "media" for s in call.media_streams)
        call.state = "disconnected"
        events = []
        if streaming:
            events.append(
                self._event(
                    call,
                    "MediaStreamingStopped",
                    mediaStreamingUpdate={
                        "contentType": "Audio",
                        "mediaStreamingStatus": "mediaStreamingStopped",
                        "mediaStreamingStatusDetails": "subscriptionStopped",
                    },
                    resultInformation=ev.result_information(),
                )
            )
        events.append(
            self._event(
                call, "CallDisconnected", resultInformation=ev.result_information(message=message)
            )
        )
        self._queue_callbacks(call, events)
        self._stop_call_recordings(call)  # ACS reports the end of a recording after the call's
        self._actions.put(lambda: self._end_media(call))

    def _end_media(self, call: FakeCall) -> None:
        call.hangup.set()

    # --- actions -----------------------------------------------------------------------------

    def _queue_callbacks(self, call: FakeCall, events: list[dict]) -> None:
        url = call.callback_uri
        self._actions.put(lambda: self._post(url, events, {}))

    def _run_actions(self) -> None:
        while True:
            action = self._actions.get()
            if action is None:
                return
            try:
                action()
            except Exception:
                logger.exception("fake ACS action failed")

    def _post(self, url: str, events: list[dict], headers: dict[str, str]) -> Delivery:
        headers = dict(headers)
        if self.jwt_signer and "aeg-event-type" not in headers:
            headers["Authorization"] = f"Bearer {self.jwt_signer.token()}"
        delivery = post_events(url, events, headers)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def _start_media(self, stream: MediaStreamRequest) -> None:
        hook = self.on_media_stream
        if hook is None or stream.hangup.is_set():
            return
        if self.jwt_signer:
            stream.headers["Authorization"] = f"Bearer {self.jwt_signer.token()}"

        def run() -> None:
            try:
                result = hook(stream)
                if inspect.isawaitable(result):
                    asyncio.run(result)
            except Exception as exc:
                stream.error = stream.error or repr(exc)
                logger.exception("call %s: media hook failed", stream.call_connection_id)

        thread = threading.Thread(target=run, name=f"fake-acs-media-{stream.kind}", daemon=True)
        self._media_threads.append(thread)
        thread.start()

    # --- REST operations (called by the handler) -----------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/calling/keys":
            if not self.jwt_signer:
                raise AcsError(404, "NotFound", "This fake does not sign tokens.")
            return 200, self.jwt_signer.jwks()
        with self._lock:
            if method == "POST" and path == CALLS_PREFIX:
                return self._create_call(body)
            if method == "POST" and path == CALLS_PREFIX + ":answer":
                return self._answer_call(body)
            if method == "POST" and path in (CALLS_PREFIX + ":reject", CALLS_PREFIX + ":redirect"):
                return self._drop_invite(body, path.rsplit(":", 1)[1])
            if path == RECORDINGS_PREFIX or path.startswith(RECORDINGS_PREFIX + "/"):
                return self._handle_recording(method, path, body)
            if not path.startswith(CALLS_PREFIX + "/"):
                raise AcsError(404, "NotFound", f"No route {method} {path}.")
            rest = path[len(CALLS_PREFIX) + 1 :]
            call_id, _, action = rest.partition(":")
            if call_id.endswith("/participants"):  # …/{id}/participants:add
                call_id, action = call_id.removesuffix("/participants"), "participants:" + action
            if "/" in call_id:
                raise AcsError(404, "NotFound", f"No route {method} {path}.")
            call = self._call_or_404(call_id)
            if method == "GET" and not action:
                return 200, call.properties()
            if method == "POST":
                answer = self._transfer_action(call, action, body) or self._keypad_action(
                    call, action, body
                )
                if answer is not None:
                    return answer
            if method == "DELETE" and not action:
                return self._leave(call)
            if method == "POST" and action == "terminate":
                self._take_failure("terminate")
                if call.state == "disconnected":
                    raise AcsError(404, "8522", "Call already disconnected.")
                self._disconnect(call, "The call was ended by the application.")
                return 204, None
            if method == "POST" and action in ("startMediaStreaming", "stopMediaStreaming"):
                return 202, None
            raise AcsError(404, "NotFound", f"No route {method} {path}.")

    def _create_call(self, body: dict) -> tuple[int, Any]:
        self._take_failure("create")
        if not isinstance(body, dict) or not body.get("targets") or not body.get("callbackUri"):
            raise AcsError(400, "BadRequest", "targets and callbackUri are required.")
        source_number = (body.get("sourceCallerIdNumber") or {}).get("value")
        call = FakeCall(
            call_connection_id=str(uuid.uuid4()),
            server_call_id="fake-scid-" + uuid.uuid4().hex,
            correlation_id=str(uuid.uuid4()),
            direction="outbound",
            state="connecting",
            callback_uri=body["callbackUri"],
            source=ev.phone_identifier(source_number) if source_number else None,
            targets=body["targets"],
            operation_context=body.get("operationContext"),
            media_streaming=body.get("mediaStreamingOptions"),
            transcription=body.get("transcriptionOptions"),
            cognitive_services_endpoint=(body.get("callIntelligenceOptions") or {}).get(
                "cognitiveServicesEndpoint"
            ),
        )
        self.calls[call.call_connection_id] = call
        props = call.properties()
        if self.auto_answer_outbound:
            self._connect(call)
        return 201, props

    def _answer_call(self, body: dict) -> tuple[int, Any]:
        self._take_failure("answer")
        if not isinstance(body, dict) or not body.get("incomingCallContext"):
            raise AcsError(400, "BadRequest", "incomingCallContext and callbackUri are required.")
        if not body.get("callbackUri"):
            raise AcsError(400, "BadRequest", "callbackUri is required.")
        invite = self.invites.pop(body["incomingCallContext"], None)
        if invite is None:
            raise AcsError(400, "8523", "Invalid or already used incoming call context.")
        call = FakeCall(
            call_connection_id=str(uuid.uuid4()),
            server_call_id=invite.server_call_id,
            correlation_id=invite.correlation_id,
            direction="inbound",
            state="connecting",
            callback_uri=body["callbackUri"],
            source=ev.identifier(invite.from_number),
            targets=[ev.identifier(invite.to_number)],
            operation_context=body.get("operationContext"),
            media_streaming=body.get("mediaStreamingOptions"),
            transcription=body.get("transcriptionOptions"),
            cognitive_services_endpoint=(body.get("callIntelligenceOptions") or {}).get(
                "cognitiveServicesEndpoint"
            ),
            incoming_call_context=invite.incoming_call_context,
        )
        self.calls[call.call_connection_id] = call
        props = call.properties()
        self._connect(call)
        return 200, props

    def _drop_invite(self, body: dict, action: str) -> tuple[int, Any]:
        self._take_failure(action)
        context = (body or {}).get("incomingCallContext")
        if not context or self.invites.pop(context, None) is None:
            raise AcsError(400, "8523", "Invalid or already used incoming call context.")
        return 204, None
