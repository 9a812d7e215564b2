"""Request and response shapes of the calls API (field names follow the original API).

Response serializers read the services' results (a `Call`, `TerminateOutcome`,
`TransferStarted`, `EventGridOutcome`, `CallbackOutcome`, a page of calls) directly.
"""

from __future__ import annotations

from azure.communication.callautomation._api_versions import DEFAULT_VERSION
from django.utils import timezone
from rest_framework import serializers

from calls.models import E164_REGEX, Call, CallStatus, RecordingState
from calls.services import CallbackOutcome, EventGridOutcome, TerminateOutcome
from media.modes import CALL_MODE_CHOICES
from voiceproject.schema import JsonBodySerializer, QuerySerializer


class InitiateContextSerializer(JsonBodySerializer):
    browser_session_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    streaming_mode = serializers.ChoiceField(choices=CALL_MODE_CHOICES, required=False)
    record_call = serializers.BooleanField(required=False)


class CallInitiateRequestSerializer(JsonBodySerializer):
    target_number = serializers.RegexField(
        E164_REGEX,
        max_length=16,
        error_messages={"invalid": "Use an E.164 phone number such as +14255550123."},
    )
    caller_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="Unused: calls come from ACS_SOURCE_PHONE_NUMBER.",
    )
    streaming_mode = serializers.ChoiceField(choices=CALL_MODE_CHOICES, required=False)
    record_call = serializers.BooleanField(required=False, allow_null=True, default=None)
    browser_session_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    context = InitiateContextSerializer(required=False)
    voicemail_message = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text=(
            "Screen who answers first; to a voicemail box say this after its beep and hang up "
            "(a person or a call-screening service gets the agent). Default: VOICEMAIL_MESSAGE; "
            '"" turns screening off.'
        ),
    )

    def validate(self, attrs):
        """Effective options: top-level field, then `context`, then the configured default."""
        context = attrs.get("context") or {}
        record = attrs.get("record_call")
        return {
            "target_number": attrs["target_number"],
            "streaming_mode": attrs.get("streaming_mode") or context.get("streaming_mode"),
            "record_call": bool(record if record is not None else context.get("record_call")),
            "browser_session_id": attrs.get("browser_session_id")
            or context.get("browser_session_id", ""),
            "voicemail_message": attrs.get("voicemail_message"),
        }


class CallInitiateDetailsSerializer(serializers.Serializer):
    api_version = serializers.SerializerMethodField()
    acs_result = serializers.SerializerMethodField()
    streaming_mode = serializers.CharField()
    recording_enabled = serializers.BooleanField(source="record_call")

    def get_api_version(self, call: Call) -> str:
        return DEFAULT_VERSION

    def get_acs_result(self, call: Call) -> str:
        return "created"


class CallInitiateResponseSerializer(serializers.Serializer):
    call_id = serializers.CharField(
        source="call_connection_id", help_text="ACS call connection id."
    )
    status = serializers.ChoiceField(choices=CallStatus.choices)
    target_number = serializers.CharField(source="to_number")
    message = serializers.SerializerMethodField()
    streaming_mode = serializers.ChoiceField(choices=CALL_MODE_CHOICES)
    initiated_at = serializers.DateTimeField(source="created_at")
    session_id = serializers.CharField()
    details = CallInitiateDetailsSerializer(source="*")

    def get_message(self, call: Call) -> str:
        return f"Calling {call.to_number}"


class CallListQuerySerializer(QuerySerializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
    status_filter = serializers.ChoiceField(choices=CallStatus.choices, required=False)


class CallEventBriefSerializer(serializers.Serializer):
    event_type = serializers.CharField(source="short_type")
    event_id = serializers.CharField()
    received_at = serializers.DateTimeField()


class CallSerializer(serializers.ModelSerializer):
    call_id = serializers.SerializerMethodField(help_text="ACS call connection id (or our id).")
    duration = serializers.SerializerMethodField(help_text="Seconds connected, when known.")
    participants = serializers.SerializerMethodField()
    events = CallEventBriefSerializer(many=True, read_only=True)
    # Declared here: a read-only model field would lose `allow_blank`, and the schema its "".
    recording_state = serializers.ChoiceField(
        choices=RecordingState.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank: nothing was recorded.",
    )
    answered_by = serializers.ChoiceField(
        choices=Call.AnsweredBy.choices,
        allow_blank=True,
        read_only=True,
        help_text="Who picked up a call screened for voicemail; blank: not screened.",
    )

    class Meta:
        model = Call
        fields = [
            "call_id",
            "status",
            "duration",
            "participants",
            "events",
            "id",
            "call_connection_id",
            "server_call_id",
            "correlation_id",
            "direction",
            "from_number",
            "to_number",
            "streaming_mode",
            "record_call",
            "recording_id",
            "recording_state",
            "voicemail_message",
            "answered_by",
            "browser_session_id",
            "session_id",
            "disconnect_reason",
            "created_at",
            "connected_at",
            "ended_at",
            "media_connected_at",
        ]
        read_only_fields = fields

    def get_call_id(self, call: Call) -> str:
        return call.call_connection_id or str(call.id)

    def get_duration(self, call: Call) -> float | None:
        if not call.connected_at:
            return None
        end = call.ended_at or timezone.now()
        return round((end - call.connected_at).total_seconds(), 3)

    def get_participants(self, call: Call) -> list[str]:
        return [number for number in (call.from_number, call.to_number) if number]


class CallListResponseSerializer(serializers.Serializer):
    calls = CallSerializer(source="object_list", many=True)
    total = serializers.IntegerField(source="paginator.count")
    page = serializers.IntegerField(source="number")
    limit = serializers.IntegerField(source="paginator.per_page")


class CallTerminateRequestSerializer(JsonBodySerializer):
    call_id = serializers.CharField(max_length=128, help_text="ACS call connection id.")
    session_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    reason = serializers.CharField(required=False, default="normal", max_length=200)


class CallTerminateResponseSerializer(serializers.Serializer):
    call_id = serializers.CharField(source="call.call_connection_id")
    status = serializers.SerializerMethodField(
        help_text="`terminated` when this request hung up, else the call's final state."
    )
    call_status = serializers.ChoiceField(source="call.status", choices=CallStatus.choices)
    already_ended = serializers.BooleanField()
    message = serializers.SerializerMethodField()
    ended_at = serializers.DateTimeField(source="call.ended_at", allow_null=True)
    disconnect_reason = serializers.CharField(source="call.disconnect_reason")

    def get_status(self, outcome: TerminateOutcome) -> str:
        return outcome.call.status if outcome.already_ended else "terminated"

    def get_message(self, outcome: TerminateOutcome) -> str:
        return "Call already ended" if outcome.already_ended else "Call hangup requested"


class CallTransferRequestSerializer(serializers.Serializer):
    call_id = serializers.CharField(max_length=128, help_text="ACS call connection id.")
    target = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        help_text="E.164 number or ACS user id (8:acs:...); default HUMAN_TRANSFER_TARGET.",
    )
    mode = serializers.ChoiceField(
        choices=[("cold", "Cold"), ("warm", "Warm")],
        required=False,
        help_text="cold: ACS hands the caller over; warm: the person is added, hears `summary`, "
        "then the app leaves. Default HUMAN_TRANSFER_MODE.",
    )
    summary = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text="Spoken to the person (warm)"
    )


class CallTransferResponseSerializer(serializers.Serializer):
    call_id = serializers.CharField(source="call.call_connection_id")
    status = serializers.SerializerMethodField(help_text="`requested`: ACS answers with callbacks")
    mode = serializers.CharField()
    target = serializers.CharField()
    operation_context = serializers.CharField(
        help_text="Names the transfer's callbacks in the call's events"
    )

    def get_status(self, started) -> str:
        return "requested"


class AnsweredCallSerializer(serializers.Serializer):
    status = serializers.SerializerMethodField()
    call_connection_id = serializers.CharField()
    caller_id = serializers.CharField(source="from_number")
    answered_at = serializers.DateTimeField(source="updated_at")
    recording_enabled = serializers.BooleanField(source="record_call")

    def get_status(self, call: Call) -> str:
        return "call answered"


class EventGridResponseSerializer(serializers.Serializer):
    validationResponse = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    call_connection_id = serializers.CharField(required=False)
    caller_id = serializers.CharField(required=False)
    answered_at = serializers.DateTimeField(required=False)
    recording_enabled = serializers.BooleanField(required=False)

    def to_representation(self, outcome: EventGridOutcome) -> dict:
        """The subscription handshake's answer, or the first call answered, or neither."""
        if outcome.validation_code is not None:
            return {"validationResponse": outcome.validation_code}
        if not outcome.answered:
            return {"status": "no events processed"}
        return AnsweredCallSerializer(outcome.answered[0]).data


class CallbackResponseSerializer(serializers.Serializer):
    status = serializers.SerializerMethodField()
    processed_events = serializers.IntegerField(source="processed")
    duplicate_events = serializers.IntegerField(source="duplicates")
    failed_events = serializers.SerializerMethodField()
    unknown_call_events = serializers.IntegerField(source="unknown_call")
    call_connection_id = serializers.SerializerMethodField()
    processing_system = serializers.SerializerMethodField()

    def get_status(self, outcome: CallbackOutcome) -> str:
        return "success"

    def get_failed_events(self, outcome: CallbackOutcome) -> int:
        return outcome.failed + outcome.unknown_call

    def get_call_connection_id(self, outcome: CallbackOutcome) -> str | None:
        return (outcome.call_connection_ids or [None])[0]

    def get_processing_system(self, outcome: CallbackOutcome) -> str:
        return "events_v1"
