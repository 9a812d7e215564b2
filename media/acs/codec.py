"""The ACS media-streaming wire format (JSON text frames, base64 PCM16 inside).

Inbound (ACS → app): `AudioMetadata`, `AudioData`, `DtmfData`, `TranscriptionMetadata`,
`TranscriptionData`. Every message is `{kind, <kindInCamelCase>: {...}}`; Microsoft's own
senders disagree on key casing, so keys are compared case-insensitively and the payload
member may be named in any casing.

Outbound (app → ACS): `{"kind":"AudioData","audioData":{"data":"<b64>"}}` and
`{"kind":"StopAudio","stopAudio":{}}` (the camelCase form of the Java SDK and
call-center-ai; ACS accepts any casing).

Bad input never raises out of :meth:`InboundDecoder.decode`: it returns a :class:`BadInput`
naming the reason, which the decoder also counts.
"""

from __future__ import annotations

import binascii
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SAMPLE_RATE_HZ = 16000
# A 20 ms frame at 24 kHz is 1280 base64 characters; one second of 24 kHz audio is 64 000.
MAX_MESSAGE_CHARS = 64 * 1024
# The longest audio chunk accepted in one AudioData (bigger ones are counted and dropped).
MAX_AUDIO_MS = 1000

# Reasons a message is rejected (the counter keys).
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_KIND = "unknown_kind"
MISSING_PAYLOAD = "missing_payload"
BAD_BASE64 = "bad_base64"
BAD_FRAME_SIZE = "bad_frame_size"
OVERSIZED = "oversized"
BINARY_FRAME = "binary_frame"
BAD_DTMF = "bad_dtmf"
BAD_METADATA = "bad_metadata"

# The AudioData payload keys in the casing of the documentation and of ACS itself.
_AUDIO_KEYS = frozenset(("data", "timestamp", "participantRawID", "silent"))

DTMF_TONES = frozenset("0123456789*#ABCD")
# ACS sends tone names in some versions (e.g. "five", "pound"); map them to the characters.
_DTMF_NAMES = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "asterisk": "*", "star": "*", "pound": "#",
    "hash": "#", "a": "A", "b": "B", "c": "C", "d": "D",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AudioMetadata:
    subscription_id: str
    encoding: str
    sample_rate_hz: int
    channels: int
    frame_bytes: int


@dataclass(frozen=True, slots=True)
class AudioData:
    pcm: bytes
    timestamp: str | None = None
    participant_raw_id: str | None = None
    silent: bool = False


@dataclass(frozen=True, slots=True)
class DtmfData:
    digits: str


@dataclass(frozen=True, slots=True)
class TranscriptionMetadata:
    subscription_id: str = ""
    locale: str = ""
    call_connection_id: str = ""
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class TranscriptionWord:
    text: str
    offset_ticks: int = 0
    duration_ticks: int = 0


@dataclass(frozen=True, slots=True)
class TranscriptionData:
    text: str
    is_final: bool
    confidence: float | None = None
    offset_ticks: int = 0
    duration_ticks: int = 0
    participant_raw_id: str | None = None
    words: tuple[TranscriptionWord, ...] = ()


@dataclass(frozen=True, slots=True)
class StopAudio:
    """Only ever sent by the app; parsed so that the simulator can read the app's frames."""


@dataclass(frozen=True, slots=True)
class BadInput:
    reason: str
    detail: str = ""


InboundMessage = (
    AudioMetadata | AudioData | DtmfData | TranscriptionMetadata | TranscriptionData | StopAudio
)


def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {k.lower() if isinstance(k, str) else k: v for k, v in obj.items()}


def _payload(message: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = message.get(name)
    return _lower_keys(value) if isinstance(value, dict) else None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def dtmf_digits(value: Any) -> str | None:
    """The tone characters of a DtmfData `data` value, or None when it is not a tone."""
    if not isinstance(value, str) or not value:
        return None
    named = _DTMF_NAMES.get(value.strip().lower())
    if named:
        return named
    digits = value.strip().upper()
    return digits if digits and all(c in DTMF_TONES for c in digits) else None


@dataclass(slots=True)
class InboundDecoder:
    """Parses one media socket's inbound frames and counts what it had to reject.

    `frame_bytes` is the expected AudioData size (from AudioMetadata, else 20 ms at 16 kHz).
    Audio of another even size is still delivered (the engine frames any chunk size) but
    counted; an odd size or a chunk over :data:`MAX_AUDIO_MS` is dropped.
    """

    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
    frame_bytes: int = DEFAULT_SAMPLE_RATE_HZ // 50 * 2
    max_message_chars: int = MAX_MESSAGE_CHARS
    rejected: Counter = field(default_factory=Counter)
    messages: int = 0

    def set_format(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.frame_bytes = sample_rate_hz // 50 * 2

    def reject(self, reason: str, detail: str = "") -> BadInput:
        self.rejected[reason] += 1
        return BadInput(reason, detail)

    def decode_binary(self, data: bytes) -> BadInput:
        """ACS never sends binary frames: count and ignore them."""
        return self.reject(BINARY_FRAME, f"{len(data)} bytes")

    def decode(self, text: str) -> InboundMessage | BadInput:
        self.messages += 1
        if len(text) > self.max_message_chars:
            return self.reject(OVERSIZED, f"{len(text)} characters")
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return self.reject(MALFORMED_JSON, str(exc)[:80])
        if not isinstance(raw, dict):
            return self.reject(NOT_AN_OBJECT, type(raw).__name__)
        # Fast path for the 50 AudioData messages a second of a call in the documented casing:
        # with no other key, lowering the keys would change nothing.
        if len(raw) == 2 and raw.get("kind") == "AudioData":
            payload = raw.get("audioData")
            if type(payload) is dict and _AUDIO_KEYS.issuperset(payload):
                return self._audio_fields(
                    payload.get("data"),
                    payload.get("timestamp"),
                    payload.get("participantRawID"),
                    payload.get("silent", False),
                )
        message = _lower_keys(raw)
        kind = message.get("kind")
        if not isinstance(kind, str):
            return self.reject(UNKNOWN_KIND, repr(kind)[:40])
        kind = kind.lower()
        if kind == "audiodata":
            return self._audio(message)
        if kind == "dtmfdata":
            payload = _payload(message, "dtmfdata")
            digits = dtmf_digits(payload.get("data") if payload else None)
            if digits is None:
                return self.reject(BAD_DTMF, repr(payload)[:40])
            return DtmfData(digits)
        if kind == "audiometadata":
            return self._metadata(message)
        if kind == "transcriptiondata":
            return self._transcription(message)
        if kind == "transcriptionmetadata":
            payload = _payload(message, "transcriptionmetadata") or {}
            return TranscriptionMetadata(
                subscription_id=str(payload.get("subscriptionid") or ""),
                locale=str(payload.get("locale") or ""),
                call_connection_id=str(payload.get("callconnectionid") or ""),
                correlation_id=str(payload.get("correlationid") or ""),
            )
        if kind == "stopaudio":
            return StopAudio()
        return self.reject(UNKNOWN_KIND, kind[:40])

    def _audio(self, message: dict[str, Any]) -> AudioData | BadInput:
        payload = _payload(message, "audiodata")
        if payload is None:
            return self.reject(MISSING_PAYLOAD, "audioData")
        return self._audio_fields(
            payload.get("data"),
            payload.get("timestamp"),
            payload.get("participantrawid"),
            payload.get("silent", False),
        )

    def _audio_fields(
        self, data: Any, timestamp: Any, participant_raw_id: Any, silent: Any
    ) -> AudioData | BadInput:
        if not isinstance(data, str):
            return self.reject(BAD_BASE64, "data is not a string")
        try:
            pcm = binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            return self.reject(BAD_BASE64, str(exc)[:80])
        size = len(pcm)
        if size != self.frame_bytes:
            if size % 2 or size > self.sample_rate_hz * 2 * MAX_AUDIO_MS // 1000:
                return self.reject(BAD_FRAME_SIZE, f"{size} bytes (dropped)")
            self.rejected[BAD_FRAME_SIZE] += 1
        return AudioData(
            pcm, timestamp, participant_raw_id, silent if type(silent) is bool else _bool(silent)
        )

    def _metadata(self, message: dict[str, Any]) -> AudioMetadata | BadInput:
        payload = _payload(message, "audiometadata")
        if payload is None:
            return self.reject(MISSING_PAYLOAD, "audioMetadata")
        rate = _int(payload.get("samplerate"), DEFAULT_SAMPLE_RATE_HZ)
        if rate not in (8000, 16000, 24000, 48000):
            return self.reject(BAD_METADATA, f"sampleRate {rate}")
        self.set_format(rate)
        return AudioMetadata(
            subscription_id=str(payload.get("subscriptionid") or ""),
            encoding=str(payload.get("encoding") or "PCM"),
            sample_rate_hz=rate,
            channels=_int(payload.get("channels"), 1),
            frame_bytes=_int(payload.get("length"), self.frame_bytes),
        )

    def _transcription(self, message: dict[str, Any]) -> TranscriptionData | BadInput:
        payload = _payload(message, "transcriptiondata")
        if payload is None:
            return self.reject(MISSING_PAYLOAD, "transcriptionData")
        words = []
        for word in payload.get("words") or ():
            if isinstance(word, dict):
                w = _lower_keys(word)
                words.append(
                    TranscriptionWord(
                        str(w.get("text") or ""), _int(w.get("offset")), _int(w.get("duration"))
                    )
                )
        confidence = payload.get("confidence")
        return TranscriptionData(
            text=str(payload.get("text") or ""),
            is_final=str(payload.get("resultstatus") or "").lower() == "final",
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
            offset_ticks=_int(payload.get("offset")),
            duration_ticks=_int(payload.get("duration")),
            participant_raw_id=payload.get("participantrawid"),
            words=tuple(words),
        )


# --- outbound ---------------------------------------------------------------------------------

STOP_AUDIO = '{"kind":"StopAudio","stopAudio":{}}'
_AUDIO_HEAD = '{"kind":"AudioData","audioData":{"data":"'
_AUDIO_TAIL = '"}}'


def encode_audio_data(pcm: bytes) -> str:
    """One outbound AudioData message (PCM16 mono at the negotiated rate)."""
    # b2a_base64 is the C fast path; the JSON is assembled by hand because base64 needs no
    # escaping and this runs 50 times a second per call.
    return _AUDIO_HEAD + binascii.b2a_base64(pcm, newline=False).decode("ascii") + _AUDIO_TAIL


def encode_stop_audio() -> str:
    return STOP_AUDIO


# --- what the ACS side sends (the simulator and tests build these) -----------------------------


def encode_audio_metadata(
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ, subscription_id: str = ""
) -> str:
    return json.dumps(
        {
            "kind": "AudioMetadata",
            "audioMetadata": {
                "subscriptionId": subscription_id,
                "encoding": "PCM",
                "sampleRate": sample_rate_hz,
                "channels": 1,
                "length": sample_rate_hz // 50 * 2,
            },
        }
    )


def encode_inbound_audio(
    pcm: bytes, *, timestamp: str, participant_raw_id: str | None, silent: bool
) -> str:
    return json.dumps(
        {
            "kind": "AudioData",
            "audioData": {
                "timestamp": timestamp,
                "participantRawID": participant_raw_id,
                "data": binascii.b2a_base64(pcm, newline=False).decode("ascii"),
                "silent": silent,
            },
        }
    )


def encode_dtmf(tone: str) -> str:
    return json.dumps({"kind": "DtmfData", "dtmfData": {"data": tone}})


def encode_transcription_metadata(*, call_connection_id: str, locale: str = "en-us") -> str:
    return json.dumps(
        {
            "kind": "TranscriptionMetadata",
            "transcriptionMetadata": {
                "subscriptionId": "",
                "locale": locale,
                "callConnectionId": call_connection_id,
                "correlationId": "",
            },
        }
    )


def encode_transcription_data(
    text: str,
    *,
    is_final: bool,
    confidence: float = 0.9,
    offset_ticks: int = 0,
    duration_ticks: int = 0,
    participant_raw_id: str | None = None,
) -> str:
    return json.dumps(
        {
            "kind": "TranscriptionData",
            "transcriptionData": {
                "text": text,
                "format": "display",
                "confidence": confidence,
                "offset": offset_ticks,
                "duration": duration_ticks,
                "words": [{"text": w, "offset": offset_ticks, "duration": 0} for w in text.split()],
                "participantRawID": participant_raw_id,
                "resultStatus": "Final" if is_final else "Intermediate",
            },
        }
    )
