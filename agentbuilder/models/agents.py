"""Agents, the templates the builder starts from, and per-session dynamic agents."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agentbuilder.validation import (
    MODEL_LIMITS,
    NAME_RE,
    TRIGGER_RE,
    VOICE_RATE_RE,
    check_template_vars,
    realtime_errors,
    template_errors,
    tool_errors,
)

DEFAULT_VOICE = "en-US-AvaMultilingualNeural"
DEFAULT_DEPLOYMENT = "gpt-4o"


def _range(field: str):
    low, high = MODEL_LIMITS[field]
    return [MinValueValidator(low), MaxValueValidator(high)]


class AgentConfig(models.Model):
    """What every agent-shaped thing has: prompts, voice, model settings and tools."""

    description = models.TextField(blank=True, max_length=512)
    greeting = models.TextField(
        blank=True, help_text="Jinja. Said when a caller first reaches the agent; empty = silent."
    )
    return_greeting = models.TextField(
        blank=True, help_text="Jinja. Said when the caller comes back to this agent."
    )
    instructions = models.TextField(help_text="The system prompt (Jinja).")
    template_vars = models.JSONField(
        default=dict, blank=True, validators=[check_template_vars], help_text="Jinja variables."
    )
    voice_name = models.CharField(max_length=100, default=DEFAULT_VOICE)
    voice_style = models.CharField(max_length=50, blank=True, default="chat")
    voice_rate = models.CharField(
        max_length=8,
        default="+0%",
        validators=[RegexValidator(VOICE_RATE_RE, "A rate such as +0%, -4% or +10%.")],
    )
    model_deployment = models.CharField(max_length=100, default=DEFAULT_DEPLOYMENT)
    temperature = models.FloatField(default=0.7, validators=_range("temperature"))
    top_p = models.FloatField(default=0.9, validators=_range("top_p"))
    max_tokens = models.PositiveIntegerField(default=4096, validators=_range("max_tokens"))
    tools = models.JSONField(default=list, blank=True, help_text="Tool names.")
    realtime = models.JSONField(
        default=dict,
        blank=True,
        help_text="Realtime session settings: turn_detection, input_audio_transcription.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What makes an agent behave as it does (edited in the admin, set by library files).
    CONFIG_FIELDS = (
        "description",
        "greeting",
        "return_greeting",
        "instructions",
        "template_vars",
        "voice_name",
        "voice_style",
        "voice_rate",
        "model_deployment",
        "temperature",
        "top_p",
        "max_tokens",
        "tools",
        "realtime",
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="%(app_label)s_%(class)s_temperature_range",
            ),
            models.CheckConstraint(
                condition=Q(top_p__gte=0) & Q(top_p__lte=1),
                name="%(app_label)s_%(class)s_top_p_range",
            ),
            models.CheckConstraint(
                condition=Q(max_tokens__gte=1) & Q(max_tokens__lte=16384),
                name="%(app_label)s_%(class)s_max_tokens_range",
            ),
        ]

    # Which other agents' triggers this one may call; subclasses narrow it.
    def known_triggers(self) -> set[str]:
        return set(Agent.objects.values_list("handoff_trigger", flat=True))

    def own_trigger(self) -> str:
        return ""

    def clean(self) -> None:
        errors: dict[str, Any] = template_errors(
            greeting=self.greeting,
            return_greeting=self.return_greeting,
            instructions=self.instructions,
        )
        problem = tool_errors(
            self.tools, known_triggers=self.known_triggers(), own_trigger=self.own_trigger()
        )
        if problem:
            errors["tools"] = problem
        problem = realtime_errors(self.realtime)
        if problem:
            errors["realtime"] = problem
        errors.update(self.own_errors())
        if errors:
            raise ValidationError(errors)

    def own_errors(self) -> dict[str, str]:
        """Field -> problem, for the rules of one kind of agent; subclasses add theirs."""
        return {}

    @property
    def model_settings(self) -> dict[str, Any]:
        return {
            "deployment_id": self.model_deployment,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }

    @property
    def voice(self) -> dict[str, str]:
        return {
            "name": self.voice_name,
            "type": "azure-standard" if "Neural" in self.voice_name else "local",
            "style": self.voice_style,
            "rate": self.voice_rate,
        }


class PiiRedaction(models.TextChoices):
    """Where personal data callers say is replaced (`media.redaction`)."""

    INHERIT = "inherit", "As the PII_REDACTION setting says"
    OFF = "off", "Off"
    STORE = "store", "Stored transcripts, logs, dashboard and traces"
    LLM = "llm", "Also the LLM's context (tools still get the values)"


class Agent(AgentConfig):
    """An agent callers can talk to, reachable from other agents through its handoff trigger."""

    class Source(models.TextChoices):
        LIBRARY = "library", "Shipped library"
        ADMIN = "admin", "Admin"
        API = "api", "API"

    PiiRedaction = PiiRedaction

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(NAME_RE, "Letters, digits, '_' and '-', starting with a letter.")
        ],
    )
    handoff_trigger = models.CharField(
        max_length=100,
        unique=True,
        validators=[RegexValidator(TRIGGER_RE, "lower_snake_case, e.g. handoff_fraud_agent.")],
        help_text="The tool other agents call to hand the caller over to this agent.",
    )
    handoff_description = models.TextField(
        blank=True,
        max_length=512,
        help_text="When other agents should hand over, in the caller's words.",
    )
    is_entry_point = models.BooleanField(default=False, help_text="Conversations start here.")
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ADMIN)
    library_file = models.CharField(max_length=200, blank=True)
    library_digest = models.CharField(
        max_length=64, blank=True, help_text="Digest of the library version last loaded."
    )
    metadata = models.JSONField(default=dict, blank=True)
    pii_redaction = models.CharField(
        "PII redaction",
        max_length=8,
        choices=PiiRedaction.choices,
        default=PiiRedaction.INHERIT,
        help_text="Card, social security, account and phone numbers and emails the caller says "
        "are replaced in what is stored, logged and shown (and with 'llm' in what the model is "
        "sent). A conversation follows the strictest of its agents.",
    )

    # Fields a library YAML file sets; their digest tells an admin edit from a library load.
    LIBRARY_FIELDS = (
        *AgentConfig.CONFIG_FIELDS,
        "handoff_trigger",
        "handoff_description",
        "is_entry_point",
        "enabled",
    )

    class Meta(AgentConfig.Meta):
        ordering = ["-is_entry_point", "name"]
        constraints = [
            *AgentConfig.Meta.constraints,
            models.UniqueConstraint(
                fields=["is_entry_point"],
                condition=Q(is_entry_point=True),
                name="agentbuilder_agent_single_entry_point",
            ),
            models.CheckConstraint(
                condition=Q(pii_redaction__in=PiiRedaction.values),
                name="agentbuilder_agent_pii_redaction_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def known_triggers(self) -> set[str]:
        return set(Agent.objects.exclude(pk=self.pk).values_list("handoff_trigger", flat=True)) | {
            self.handoff_trigger
        }

    def own_trigger(self) -> str:
        return self.handoff_trigger

    def own_errors(self) -> dict[str, str]:
        from agentbuilder.tools.registry import registry

        errors = {}
        if self.handoff_trigger in registry():
            errors["handoff_trigger"] = "This name belongs to a registered tool."
        if self.is_entry_point and not self.enabled:
            errors["enabled"] = "The entry agent must be enabled."
        return errors

    def library_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.LIBRARY_FIELDS}

    def content_digest(self) -> str:
        return library_digest(self.library_values())


def library_digest(values: dict[str, Any]) -> str:
    """A stable digest of an agent's library fields."""
    canonical = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AgentTemplate(AgentConfig):
    """A blueprint the agent builder starts from (`/agent-builder/templates`)."""

    slug = models.SlugField(max_length=64, unique=True, help_text="The template id.")
    name = models.CharField(max_length=64, validators=[RegexValidator(NAME_RE)])
    handoff_trigger = models.CharField(max_length=100, blank=True)
    is_entry_point = models.BooleanField(default=False)
    source = models.CharField(
        max_length=16, choices=Agent.Source.choices, default=Agent.Source.ADMIN
    )

    class Meta(AgentConfig.Meta):
        ordering = ["-is_entry_point", "slug"]

    def __str__(self) -> str:
        return self.slug


class SessionAgentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class SessionAgent(AgentConfig):
    """A dynamic agent made in the builder for one conversation session; it becomes its entry."""

    session_id = models.CharField(max_length=120, unique=True)
    name = models.CharField(max_length=64, validators=[RegexValidator(NAME_RE)])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = SessionAgentQuerySet.as_manager()

    class Meta(AgentConfig.Meta):
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.session_id})"

    @property
    def handoff_trigger(self) -> str:
        from agentbuilder.validation import trigger_for

        return trigger_for(self.name)

    def own_trigger(self) -> str:
        return self.handoff_trigger

    def known_triggers(self) -> set[str]:
        return set(Agent.objects.filter(enabled=True).values_list("handoff_trigger", flat=True))

    def own_errors(self) -> dict[str, str]:
        """A session agent with an agent's exact name replaces that agent in its session (the
        handoffs to it then reach the session's version); under another name it may not take
        an agent's handoff trigger (nor its name in another case), which would make two."""
        if not self.name:
            return {}
        clash = (
            Agent.objects.filter(
                Q(name__iexact=self.name) | Q(handoff_trigger=self.handoff_trigger)
            )
            .exclude(name=self.name)
            .values_list("name", flat=True)
            .first()
        )
        if not clash:
            return {}
        return {
            "name": f"{self.name!r} clashes with the agent {clash!r} (same name or handoff "
            "trigger); choose another name."
        }

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
