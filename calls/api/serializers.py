"""Request and response shapes of the calls API (field names follow the original API)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from calls.models import E164_REGEX, Call, CallStatus, RecordingState
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
    api_version = serializers.CharField()
    acs_result = serializers.CharField()
    streaming_mode = serializers.CharField()
    recording_enabled = serializers.BooleanField()


class CallInitiateResponseSerializer(serializers.Serializer):
    call_id = serializers.CharField(help_text="ACS call connection id.")
    status = serializers.ChoiceField(choices=CallStatus.choices)
    target_number = serializers.CharField()
    message = serializers.CharField()
    streaming_mode = serializers.ChoiceField(choices=CALL_MODE_CHOICES)
    initiated_at = serializers.DateTimeField()
    session_id = serializers.CharField()
    details = CallInitiateDetailsSerializer()


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
    calls = CallSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    limit = serializers.IntegerField()


class CallTerminateRequestSerializer(JsonBodySerializer):
    call_id = serializers.CharField(max_length=128, help_text="ACS call connection id.")
    session_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    reason = serializers.CharField(required=False, default="normal", max_length=200)


class CallTerminateResponseSerializer(serializers.Serializer):
    call_id = serializers.CharField()
    status = serializers.CharField(
        help_text="`terminated` when this request hung up, else the call's final state."
    )
    call_status = serializers.ChoiceField(choices=CallStatus.choices)
    already_ended = serializers.BooleanField()
    message = serializers.CharField()
    ended_at = serializers.DateTimeField(allow_null=True)
    disconnect_reason = serializers.CharField()


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
    call_id = serializers.CharField()
    status = serializers.CharField(help_text="`requested`: ACS answers with callbacks")
    mode = serializers.CharField()
    target = serializers.CharField()
    operation_context = serializers.CharField(
        help_text="Names the transfer's callbacks in the call's events"
    )


class EventGridResponseSerializer(serializers.Serializer):
    validationResponse = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    call_connection_id = serializers.CharField(required=False)
    caller_id = serializers.CharField(required=False)
    answered_at = serializers.DateTimeField(required=False)
    recording_enabled = serializers.BooleanField(required=False)


class CallbackResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    processed_events = serializers.IntegerField()
    duplicate_events = serializers.IntegerField()
    failed_events = serializers.IntegerField()
    unknown_call_events = serializers.IntegerField()
    call_connection_id = serializers.CharField(allow_null=True)
    processing_system = serializers.CharField()
