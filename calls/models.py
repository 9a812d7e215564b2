"""Phone calls over Azure Communication Services and the events ACS reported about them."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from media.modes import CALL_MODE_CHOICES, CALL_MODES, StreamMode

E164_REGEX = r"^\+[1-9][0-9]{1,14}$"


class CallDirection(models.TextChoices):
    """Who placed the call: the caller (inbound) or this app (outbound)."""

    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class CallStatus(models.TextChoices):
    """Lifecycle of a call; `disconnected` and `failed` are final."""

    INITIATING = "initiating", "Initiating"
    RINGING = "ringing", "Ringing"
    CONNECTED = "connected", "Connected"
    ON_HOLD = "on_hold", "On hold"
    DISCONNECTED = "disconnected", "Disconnected"
    FAILED = "failed", "Failed"


class RecordingState(models.TextChoices):
    """A call recording as ACS reports it (`active`/`inactive`), or `failed` to start.

    Blank: nothing was recorded (the call was not asked to be, or never connected).
    """

    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    FAILED = "failed", "Failed"


class AnsweredBy(models.TextChoices):
    """Who picked up an outbound call screened for voicemail (`media/voicemail.py`).

    Blank: the call was not screened.
    """

    HUMAN = "human", "A person"
    MACHINE = "machine", "Voicemail"
    SCREENING = "screening", "A call-screening service"
    SILENCE = "silence", "Nobody spoke"


class Call(models.Model):
    """One ACS call connection, inbound or outbound.

    `call_connection_id` is assigned by ACS: an outbound call is stored before ACS answers the
    create request, so it stays blank until then and the callbacks find the call through the
    `operationContext` (this row's `id`) that was sent with the request.
    """

    Direction = CallDirection
    Status = CallStatus
    StreamMode = StreamMode
    RecordingState = RecordingState
    AnsweredBy = AnsweredBy

    FINAL_STATUSES = frozenset({CallStatus.DISCONNECTED, CallStatus.FAILED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    call_connection_id = models.CharField(max_length=128, blank=True, default="")
    server_call_id = models.CharField(max_length=1024, blank=True, default="")
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    from_number = models.CharField(
        max_length=256, blank=True, default="", help_text="E.164 number or ACS raw id."
    )
    to_number = models.CharField(
        max_length=256, blank=True, default="", help_text="E.164 number or ACS raw id."
    )
    caller_display_name = models.CharField(max_length=256, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.INITIATING, db_index=True
    )
    streaming_mode = models.CharField(
        max_length=16, choices=CALL_MODE_CHOICES, default=StreamMode.MEDIA
    )
    record_call = models.BooleanField(
        default=False, help_text="Record the call (audio, unmixed WAV) once it connects."
    )
    recording_id = models.CharField(
        max_length=256, blank=True, default="", help_text="ACS recording id, once started."
    )
    recording_state = models.CharField(
        max_length=16, choices=RecordingState.choices, blank=True, default=""
    )
    browser_session_id = models.CharField(
        max_length=128, blank=True, default="", help_text="Browser session that placed the call."
    )
    session_id = models.CharField(
        max_length=128,
        blank=True,
        default="",
        db_index=True,
        help_text="Conversation session: the browser session if linked, else the call id.",
    )
    voicemail_message = models.TextField(
        blank=True,
        default="",
        max_length=1000,
        help_text="Outbound: screen who answers; to voicemail, say this and hang up.",
    )
    answered_by = models.CharField(
        max_length=16, choices=AnsweredBy.choices, blank=True, default=""
    )
    disconnect_reason = models.CharField(max_length=512, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    media_connected_at = models.DateTimeField(null=True, blank=True)
    media_disconnected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["call_connection_id"],
                condition=~Q(call_connection_id=""),
                name="calls_call_connection_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CallStatus.values), name="calls_call_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=CallDirection.values),
                name="calls_call_direction_valid",
            ),
            models.CheckConstraint(
                condition=Q(streaming_mode__in=[mode.value for mode in CALL_MODES]),
                name="calls_call_streaming_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(recording_state__in=["", *RecordingState.values]),
                name="calls_call_recording_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("created_at")),
                name="calls_call_ended_after_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} call {self.call_connection_id or self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    def clean(self) -> None:
        errors = {}
        if self.direction == self.Direction.OUTBOUND and not self.to_number:
            errors["to_number"] = "An outbound call needs a target number."
        if self.ended_at and self.created_at and self.ended_at < self.created_at:
            errors["ended_at"] = "A call cannot end before it was created."
        if errors:
            raise ValidationError(errors)


class CallEvent(models.Model):
    """An event ACS delivered (a Call Automation callback or an Event Grid event), or one this
    app recorded itself when ACS refused a request outright (source `app`).

    Delivery is at-least-once, so `event_id` is unique: a redelivered event is ignored.
    """

    class Source(models.TextChoices):
        CALLBACK = "callback", "Call Automation callback"
        EVENT_GRID = "event_grid", "Event Grid"
        APP = "app", "This app (a request ACS refused)"

    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, related_name="events", null=True, blank=True
    )
    event_id = models.CharField(max_length=128, unique=True)
    event_type = models.CharField(max_length=128, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CALLBACK)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(event_id=""), name="calls_callevent_event_id_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(source__in=["callback", "event_grid", "app"]),
                name="calls_callevent_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} ({self.event_id})"

    @property
    def short_type(self) -> str:
        """`CallConnected` for `Microsoft.Communication.CallConnected`."""
        return self.event_type.rsplit(".", 1)[-1]
