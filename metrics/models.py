"""Conversation sessions, their turns and errors, and per-agent daily latency aggregates.

Written by :mod:`metrics.services` (through its background writer, never on the event loop),
read by :mod:`metrics.selectors`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


class Transport(models.TextChoices):
    BROWSER = "browser", "Browser"
    ACS = "acs", "Phone (ACS)"


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned (no activity; closed by the stale-session job)"
    DISCONNECTED = "disconnected", "Disconnected (the server process holding it stopped)"


class Stage(models.TextChoices):
    """Latency stages of one turn, as the engine measures them (milliseconds)."""

    STT_FINAL = "stt_final", "End of speech → STT final"
    LLM_TTFT = "llm_ttft", "LLM time to first token"
    LLM_TOTAL = "llm_total", "LLM total"
    TTS_TTFB = "tts_ttfb", "TTS time to first byte"
    FIRST_AUDIO = "first_audio", "End of speech → first audio frame"
    BARGE_IN = "barge_in", "Barge-in reaction"


# Turn column holding each stage's latency.
STAGE_FIELDS: dict[str, str] = {stage.value: f"{stage.value}_ms" for stage in Stage}

# Sessions of phone calls: on the ACS media socket, or linked to a call connection.
PHONE_CALL = Q(transport="acs") | ~Q(call_connection_id="")


class ConversationSession(models.Model):
    """One conversation on one transport; a reconnect with the same id resumes it.

    `history`, `active_agent` and `tool_state` are what a reconnect needs to carry on; they never
    hold secrets (the service redacts secret-looking keys before storing them).
    """

    session_id = models.CharField(max_length=128, unique=True)
    transport = models.CharField(max_length=16, choices=Transport.choices)
    # The calls app owns call records; the link is the ACS call connection id, not a key.
    call_connection_id = models.CharField(max_length=128, blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversation_sessions",
    )
    streaming_mode = models.CharField(max_length=32, blank=True)
    # The server process holding the socket (`ServerProcess.instance_id`); when that process
    # stops beating, the sweep closes the session as disconnected.
    server_instance = models.CharField(max_length=128, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.ACTIVE
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField()
    turn_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    agents_visited = models.JSONField(default=list, blank=True)
    active_agent = models.CharField(max_length=100, blank=True)
    history = models.JSONField(default=list, blank=True)
    tool_state = models.JSONField(default=dict, blank=True)
    # Filled by post-call processing: latency summary and token usage at close.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "last_activity_at"]),
            models.Index(fields=["started_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(transport__in=Transport.values), name="metrics_session_transport_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="metrics_session_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="metrics_session_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transport} session {self.session_id}"

    def clean(self) -> None:
        if self.ended_at and self.started_at and self.ended_at < self.started_at:
            raise ValidationError({"ended_at": "A session cannot end before it starts."})
        if not isinstance(self.agents_visited, list):
            raise ValidationError({"agents_visited": "Must be a list of agent names."})
        if not isinstance(self.history, list):
            raise ValidationError({"history": "Must be a list of messages."})
        if not isinstance(self.tool_state, dict):
            raise ValidationError({"tool_state": "Must be an object."})

    @property
    def is_phone_call(self) -> bool:
        """A phone call's conversation (see PHONE_CALL): only staff and its owner may read it."""
        return self.transport == Transport.ACS or bool(self.call_connection_id)

    @property
    def duration_ms(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000


class Turn(models.Model):
    """One user turn and the agent's answer, with the latencies the engine measured."""

    session = models.ForeignKey(ConversationSession, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField(help_text="1-based position in the session")
    turn_id = models.IntegerField(help_text="The engine's turn id")
    agent = models.CharField(max_length=100)
    user_text = models.TextField(blank=True)
    assistant_text = models.TextField(blank=True, help_text="What was actually played")
    interrupted = models.BooleanField(default=False)
    stt_final_ms = models.FloatField(null=True, blank=True)
    llm_ttft_ms = models.FloatField(null=True, blank=True)
    llm_total_ms = models.FloatField(null=True, blank=True)
    tts_ttfb_ms = models.FloatField(null=True, blank=True)
    first_audio_ms = models.FloatField(null=True, blank=True)
    barge_in_ms = models.FloatField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    tool_calls = models.JSONField(default=list, blank=True)  # [{name, duration_ms, status}]
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["session", "index"]
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(fields=["agent", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["session", "index"], name="metrics_turn_unique_index"),
            models.CheckConstraint(condition=Q(index__gte=1), name="metrics_turn_index_positive"),
        ]

    def __str__(self) -> str:
        return f"turn {self.index} of {self.session_id}"

    def clean(self) -> None:
        for field in STAGE_FIELDS.values():
            value = getattr(self, field)
            if value is not None and value < 0:
                raise ValidationError({field: "A latency cannot be negative."})
        if not isinstance(self.tool_calls, list):
            raise ValidationError({"tool_calls": "Must be a list of tool calls."})


class ServerProcess(models.Model):
    """A serving process (one ASGI server), alive while it refreshes `last_seen_at`.

    Every process beats every `SERVER_HEARTBEAT_S`; one that stopped beating for
    `SERVER_DEAD_AFTER_S` (or whose pid is gone from the host that checks) is dead, and its
    sessions are closed by the sweep of a live process or of Celery beat (`swept_at`).
    """

    instance_id = models.CharField(max_length=128, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    # Set once its sessions were closed: a swept process is not looked at again.
    swept_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"server process {self.instance_id}"


class SessionErrorRecord(models.Model):
    """A provider, tool or session failure a conversation reported."""

    session = models.ForeignKey(
        ConversationSession, on_delete=models.CASCADE, related_name="errors"
    )
    stage = models.CharField(max_length=32)
    message = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.stage} error in {self.session_id}"


class AgentLatencyDaily(models.Model):
    """Per agent, day and stage: latency aggregates over that day's turns (rolled up by Celery)."""

    day = models.DateField()
    agent = models.CharField(max_length=100)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    count = models.PositiveIntegerField()
    avg_ms = models.FloatField()
    min_ms = models.FloatField()
    max_ms = models.FloatField()
    p50_ms = models.FloatField()
    p95_ms = models.FloatField()
    p99_ms = models.FloatField()
    turns = models.PositiveIntegerField(help_text="All turns of the agent that day")
    interrupted_turns = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "agent", "stage"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "agent", "stage"], name="metrics_agent_latency_daily_unique"
            ),
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="metrics_agent_latency_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(min_ms__lte=F("max_ms")), name="metrics_agent_latency_min_le_max"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} {self.stage} {self.day}"
