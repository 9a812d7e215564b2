"""Call Automation through the real `azure-communication-callautomation` SDK.

The SDK is synchronous: these functions block, so they run in request threads (Django runs
each sync view in its own thread under ASGI) or in a worker thread for consumers
(`calls.services.call_terminate_async`), never on an event loop.

Credentials: `ACS_CONNECTION_STRING` (HMAC key), or `ACS_ENDPOINT` with `DefaultAzureCredential`
(managed identity, `az login`). The connection string is parsed here rather than with
`CallAutomationClient.from_connection_string`, which keeps only the host and forces https:
parsing it ourselves keeps an `http://127.0.0.1:PORT` endpoint usable for the local fake.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from azure.communication.callautomation import (
    AudioFormat,
    AzureBlobContainerRecordingStorage,
    CallAutomationClient,
    CallConnectionProperties,
    CommunicationIdentifier,
    CommunicationUserIdentifier,
    DtmfTone,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    RecognizeInputType,
    RecordingChannel,
    RecordingContent,
    RecordingFormat,
    RecordingProperties,
    StreamingTransportType,
    TextSource,
    TranscriptionOptions,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from django.conf import settings

from calls.auth import callback_url, media_stream_url
from media.modes import StreamMode

logger = logging.getLogger(__name__)
# The SDK logs every request and its headers at INFO: keep that for debugging only.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

# Transport-level timeouts of every SDK request (azure-core's defaults are minutes long).
CONNECTION_TIMEOUT_S = 10
READ_TIMEOUT_S = 30


class AcsNotConfigured(Exception):
    """Neither ACS_CONNECTION_STRING nor ACS_ENDPOINT is set."""


@dataclass(slots=True)
class AcsRequestFailed(Exception):
    """ACS answered an error (or could not be reached)."""

    message: str
    status_code: int | None = None
    code: str | None = None

    def __str__(self) -> str:
        status = f" (HTTP {self.status_code}, {self.code})" if self.status_code else ""
        return f"{self.message}{status}"


def parse_connection_string(connection_string: str) -> tuple[str, str]:
    """`endpoint=...;accesskey=...` → (endpoint without trailing slash, access key)."""
    parts: dict[str, str] = {}
    for item in connection_string.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts[name.strip().lower()] = value.strip()
    endpoint, key = parts.get("endpoint", ""), parts.get("accesskey", "")
    if not endpoint or not key:
        raise AcsNotConfigured("ACS_CONNECTION_STRING needs endpoint=...;accesskey=...")
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    return endpoint.rstrip("/"), key


@functools.lru_cache(maxsize=4)
def _client(connection_string: str, endpoint: str) -> CallAutomationClient:
    timeouts = {"connection_timeout": CONNECTION_TIMEOUT_S, "read_timeout": READ_TIMEOUT_S}
    if connection_string:
        url, key = parse_connection_string(connection_string)
        return CallAutomationClient(url, AzureKeyCredential(key), **timeouts)
    from azure.identity import DefaultAzureCredential

    return CallAutomationClient(endpoint, DefaultAzureCredential(), **timeouts)


def is_configured() -> bool:
    return bool(settings.ACS_CONNECTION_STRING or settings.ACS_ENDPOINT)


def get_client() -> CallAutomationClient:
    """The client for the configured ACS resource (one per configuration, thread-safe)."""
    if not is_configured():
        raise AcsNotConfigured("Set ACS_CONNECTION_STRING (or ACS_ENDPOINT) to place calls.")
    return _client(settings.ACS_CONNECTION_STRING, settings.ACS_ENDPOINT)


def sample_rate_hz(streaming_mode: str) -> int:
    """Voice Live speaks 24 kHz PCM: ask ACS for it and skip a resampling step."""
    return StreamMode(streaming_mode).sample_rate_hz


def media_streaming_options(streaming_mode: str) -> MediaStreamingOptions:
    """Bidirectional PCM over the app's media socket, started as soon as the call connects."""
    rate = sample_rate_hz(streaming_mode)
    return MediaStreamingOptions(
        transport_url=media_stream_url(),
        transport_type=StreamingTransportType.WEBSOCKET,
        content_type=MediaStreamingContentType.AUDIO,
        audio_channel_type=MediaStreamingAudioChannelType.MIXED,
        start_media_streaming=True,
        # Transcription mode never speaks to the caller.
        enable_bidirectional=streaming_mode != StreamMode.TRANSCRIPTION,
        audio_format=AudioFormat.PCM24_K_MONO if rate == 24000 else AudioFormat.PCM16_K_MONO,
        enable_dtmf_tones=True,
    )


def transcription_options(streaming_mode: str) -> TranscriptionOptions | None:
    """ACS's own speech-to-text on the same socket, in `transcription` mode only."""
    if streaming_mode != StreamMode.TRANSCRIPTION:
        return None
    return TranscriptionOptions(
        transport_url=media_stream_url(),
        transport_type=StreamingTransportType.WEBSOCKET,
        locale=settings.ACS_TRANSCRIPTION_LOCALE,
        start_transcription=True,
        enable_intermediate_results=True,
    )


def _cognitive_services_endpoint(streaming_mode: str) -> str | None:
    if streaming_mode == StreamMode.TRANSCRIPTION:
        return settings.ACS_COGNITIVE_SERVICES_ENDPOINT or None
    return None


def _failed(action: str, exc: AzureError) -> AcsRequestFailed:
    if isinstance(exc, HttpResponseError):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or getattr(exc, "reason", None)
        message = getattr(error, "message", None) or str(exc.message or exc)
        return AcsRequestFailed(f"ACS {action} failed: {message}", exc.status_code, code)
    return AcsRequestFailed(f"ACS {action} failed: {exc}")


def create_call(
    *, target_number: str, source_number: str, operation_context: str, streaming_mode: str
) -> CallConnectionProperties:
    """Dial `target_number` from `source_number` (both E.164); blocks until ACS accepts."""
    try:
        return get_client().create_call(
            PhoneNumberIdentifier(target_number),
            callback_url(),
            source_caller_id_number=PhoneNumberIdentifier(source_number),
            operation_context=operation_context,
            cognitive_services_endpoint=_cognitive_services_endpoint(streaming_mode),
            media_streaming=media_streaming_options(streaming_mode),
            transcription=transcription_options(streaming_mode),
        )
    except AzureError as exc:
        raise _failed("create call", exc) from exc


def answer_call(
    *, incoming_call_context: str, operation_context: str, streaming_mode: str
) -> CallConnectionProperties:
    """Answer an Event Grid `IncomingCall` with media streaming to this app."""
    try:
        return get_client().answer_call(
            incoming_call_context,
            callback_url(),
            operation_context=operation_context,
            cognitive_services_endpoint=_cognitive_services_endpoint(streaming_mode),
            media_streaming=media_streaming_options(streaming_mode),
            transcription=transcription_options(streaming_mode),
        )
    except AzureError as exc:
        raise _failed("answer call", exc) from exc


def hang_up(call_connection_id: str) -> bool:
    """End the call for everyone. False when ACS no longer knows it (already ended)."""
    try:
        get_client().get_call_connection(call_connection_id).hang_up(is_for_everyone=True)
    except ResourceNotFoundError:
        return False
    except AzureError as exc:
        raise _failed("hang up", exc) from exc
    return True


def recording_container_url() -> str:
    """Blob container that receives recordings; blank: ACS's own storage (kept 24 h)."""
    return settings.ACS_RECORDING_CONTAINER_URL


def start_recording(*, server_call_id: str) -> RecordingProperties:
    """Record a connected call: audio only, one channel per participant, WAV.

    The file goes to the Blob container of `ACS_RECORDING_CONTAINER_URL` (ACS's managed
    identity needs write access to it) when set, else to ACS's default storage.
    `RecordingStateChanged` callbacks come to the app's callback URL.
    """
    container_url = recording_container_url()
    storage = AzureBlobContainerRecordingStorage(container_url) if container_url else None
    try:
        return get_client().start_recording(
            server_call_id=server_call_id,
            recording_state_callback_url=callback_url(),
            recording_content_type=RecordingContent.AUDIO,
            recording_channel_type=RecordingChannel.UNMIXED,
            recording_format_type=RecordingFormat.WAV,
            recording_storage=storage,
        )
    except AzureError as exc:
        raise _failed("start recording", exc) from exc


def stop_recording(recording_id: str) -> bool:
    """Stop a recording. False when ACS no longer knows it (it ended with the call)."""
    try:
        get_client().stop_recording(recording_id)
    except ResourceNotFoundError:
        return False
    except AzureError as exc:
        raise _failed("stop recording", exc) from exc
    return True


# --- transfer to a person -------------------------------------------------------------------


def participant_identifier(target: str) -> CommunicationIdentifier:
    """An E.164 phone number, or an ACS user id (`8:acs:...`)."""
    target = target.strip()
    if target.startswith("+"):
        return PhoneNumberIdentifier(target)
    return CommunicationUserIdentifier(target)


def _source_number() -> PhoneNumberIdentifier | None:
    number = settings.ACS_SOURCE_PHONE_NUMBER
    return PhoneNumberIdentifier(number) if number else None


def transfer_call(*, call_connection_id: str, target: str, operation_context: str) -> None:
    """Cold transfer: ACS hands the caller to `target` and this app's leg ends.

    `CallTransferAccepted` or `CallTransferFailed` follows on the callback URL.
    """
    identifier = participant_identifier(target)
    try:
        get_client().get_call_connection(call_connection_id).transfer_call_to_participant(
            identifier,
            operation_context=operation_context,
            source_caller_id_number=_source_number() if target.startswith("+") else None,
        )
    except AzureError as exc:
        raise _failed("transfer", exc) from exc


def add_participant(
    *, call_connection_id: str, target: str, operation_context: str, timeout_s: int = 60
) -> str:
    """Invite `target` into the call (warm transfer); the invitation id.

    `AddParticipantSucceeded` or `AddParticipantFailed` follows on the callback URL.
    """
    try:
        result = (
            get_client()
            .get_call_connection(call_connection_id)
            .add_participant(
                participant_identifier(target),
                invitation_timeout=timeout_s,
                operation_context=operation_context,
                source_caller_id_number=_source_number() if target.startswith("+") else None,
            )
        )
    except AzureError as exc:
        raise _failed("add participant", exc) from exc
    return result.invitation_id or ""


def play_text(*, call_connection_id: str, text: str, play_to: str, operation_context: str) -> None:
    """Speak `text` (ACS's own TTS) to one participant only: a warm transfer's summary for the
    person taking the call. `PlayCompleted` or `PlayFailed` follows."""
    try:
        get_client().get_call_connection(call_connection_id).play_media(
            TextSource(text=text, voice_name=settings.ACS_PLAY_VOICE),
            play_to=[participant_identifier(play_to)],
            operation_context=operation_context,
        )
    except AzureError as exc:
        raise _failed("play", exc) from exc


def leave_call(call_connection_id: str) -> bool:
    """This app leaves the call; the other participants stay connected. False when ACS no
    longer knows the call."""
    try:
        get_client().get_call_connection(call_connection_id).hang_up(is_for_everyone=False)
    except ResourceNotFoundError:
        return False
    except AzureError as exc:
        raise _failed("leave", exc) from exc
    return True


# --- keypad (DTMF) ----------------------------------------------------------------------------

TONES = {
    **{
        str(d): name
        for d, name in enumerate(
            ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        )
    },
    "*": "asterisk",
    "#": "pound",
    "A": "a",
    "B": "b",
    "C": "c",
    "D": "d",
}
DIGITS = {name: key for key, name in TONES.items()}


def recognize_dtmf(
    *,
    call_connection_id: str,
    caller: str,
    prompt: str,
    max_digits: int,
    timeout_s: int,
    inter_digit_timeout_s: int,
    operation_context: str,
) -> None:
    """Ask the caller to press keys: `prompt` is spoken (ACS's TTS), then up to `max_digits`
    are collected, ended early by `#`. `RecognizeCompleted` (the tones) or `RecognizeFailed`
    (e.g. nothing pressed within `timeout_s`) follows."""
    try:
        get_client().get_call_connection(call_connection_id).start_recognizing_media(
            RecognizeInputType.DTMF,
            participant_identifier(caller),
            play_prompt=TextSource(text=prompt, voice_name=settings.ACS_PLAY_VOICE),
            interrupt_prompt=True,
            initial_silence_timeout=timeout_s,
            dtmf_inter_tone_timeout=inter_digit_timeout_s,
            dtmf_max_tones_to_collect=max_digits,
            dtmf_stop_tones=[DtmfTone.POUND],
            operation_context=operation_context,
        )
    except AzureError as exc:
        raise _failed("recognize", exc) from exc


def send_dtmf(*, call_connection_id: str, digits: str, to: str, operation_context: str) -> None:
    """Press keys towards a participant (an IVR the call was transferred to).
    `SendDtmfTonesCompleted` or `SendDtmfTonesFailed` follows."""
    try:
        get_client().get_call_connection(call_connection_id).send_dtmf_tones(
            [TONES[d] for d in digits.upper()],
            participant_identifier(to),
            operation_context=operation_context,
        )
    except AzureError as exc:
        raise _failed("send DTMF", exc) from exc
