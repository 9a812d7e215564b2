"""Bodies of `/api/v1/agents`. Answers are read from `Agent` rows."""

from __future__ import annotations

from rest_framework import serializers

from agentbuilder.api.serializers.common import (
    ConnectionSerializer,
    ModelSettingsSerializer,
    StrictSerializer,
    validate_voice_name,
)
from agentbuilder.models import Agent
from agentbuilder.rendering import base_context, render
from agentbuilder.validation import VOICE_RATE_RE
from agentbuilder.voices import Voice
from voiceproject.schema import QuerySerializer


class AgentListQuerySerializer(QuerySerializer):
    include_state = serializers.BooleanField(
        required=False, help_text="Accepted for compatibility; no effect."
    )


class AgentDetailQuerySerializer(QuerySerializer):
    session_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=120,
        help_text="Render the prompt with this session's caller.",
    )


PROMPT_PREVIEW = 320


class AgentVoiceSerializer(serializers.Serializer):
    current_voice = serializers.CharField(source="voice_name")
    voice_style = serializers.CharField(allow_blank=True)
    voice_rate = serializers.CharField()
    voice_configurable = serializers.SerializerMethodField()
    is_per_agent_voice = serializers.SerializerMethodField()

    def get_voice_configurable(self, agent: Agent) -> bool:
        return True

    def get_is_per_agent_voice(self, agent: Agent) -> bool:
        return True


# An `Agent`; context `triggers`: the handoff map (trigger tool -> agent name).
class AgentSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.SerializerMethodField(help_text="loaded or disabled")
    description = serializers.CharField(allow_blank=True)
    prompt_path = serializers.SerializerMethodField()
    config_path = serializers.SerializerMethodField()
    model = ModelSettingsSerializer(source="model_settings")
    voice = AgentVoiceSerializer(source="*")
    tool_count = serializers.SerializerMethodField()
    tools = serializers.ListField(child=serializers.CharField())
    handoff_tools = serializers.SerializerMethodField()
    handoff_trigger = serializers.CharField()
    is_entry_point = serializers.BooleanField()
    enabled = serializers.BooleanField()
    prompt_preview = serializers.SerializerMethodField()
    source = serializers.CharField()
    edited = serializers.SerializerMethodField(help_text="Changed since the library loaded it.")
    updated_at = serializers.DateTimeField()

    def get_status(self, agent: Agent) -> str:
        return "loaded" if agent.enabled else "disabled"

    def get_prompt_path(self, agent: Agent) -> str:
        return f"library/agents/{agent.library_file}" if agent.library_file else ""

    def get_config_path(self, agent: Agent) -> str:
        return self.get_prompt_path(agent)

    def get_tool_count(self, agent: Agent) -> int:
        return len(agent.tools)

    def get_handoff_tools(self, agent: Agent) -> list[str]:
        triggers = self.context["triggers"]
        return [tool for tool in agent.tools if tool in triggers]

    def get_prompt_preview(self, agent: Agent) -> str:
        return agent.instructions[:PROMPT_PREVIEW]

    def get_edited(self, agent: Agent) -> bool:
        return bool(agent.library_digest) and agent.content_digest() != agent.library_digest


# An `Agent` in full; context `variables`: the session's caller, to render its prompts.
class AgentDetailSerializer(AgentSummarySerializer):
    greeting = serializers.CharField(allow_blank=True)
    return_greeting = serializers.CharField(allow_blank=True)
    prompt_full = serializers.CharField(source="instructions")
    template_vars = serializers.DictField()
    realtime = serializers.DictField()
    handoff_description = serializers.CharField(allow_blank=True)
    rendered_greeting = serializers.SerializerMethodField()
    rendered_prompt = serializers.SerializerMethodField()

    def _render_context(self, agent: Agent) -> dict:
        context = base_context(agent_name=agent.name, template_vars=agent.template_vars)
        context.update(self.context.get("variables") or {})
        return context

    def get_rendered_greeting(self, agent: Agent) -> str:
        return render(agent.greeting, self._render_context(agent))

    def get_rendered_prompt(self, agent: Agent) -> str:
        return render(agent.instructions, self._render_context(agent))


class AgentDetailResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    agent = AgentDetailSerializer()
    response_time_ms = serializers.FloatField()


class AgentBriefSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    handoff_trigger = serializers.CharField()
    is_entry_point = serializers.BooleanField()


class VoiceNamesField(serializers.ListField):
    """The names of a voice catalogue's voices of one category."""

    def __init__(self, category: str, **kwargs) -> None:
        self.category = category
        super().__init__(child=serializers.CharField(), source="*", **kwargs)

    def to_representation(self, voices: list[Voice]) -> list[str]:
        return [voice.name for voice in voices if voice.category == self.category]


# A voice catalogue (`agentbuilder.voices.voice_catalogue`) by category.
class AvailableVoicesSerializer(serializers.Serializer):
    turbo_voices = VoiceNamesField("turbo")
    standard_voices = VoiceNamesField("standard")
    hd_voices = VoiceNamesField("hd")
    local_voices = VoiceNamesField("local")


class AgentListResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    agents_count = serializers.IntegerField()
    agents = AgentSummarySerializer(many=True)
    summaries = AgentBriefSerializer(many=True)
    handoff_map = serializers.DictField(child=serializers.CharField())
    start_agent = serializers.CharField(allow_blank=True)
    scenario = serializers.CharField(allow_null=True)
    connections = ConnectionSerializer(many=True)
    response_time_ms = serializers.FloatField()
    available_voices = AvailableVoicesSerializer()


class AgentVoiceUpdateSerializer(StrictSerializer):
    voice_name = serializers.CharField(
        max_length=100, required=False, validators=[validate_voice_name]
    )
    voice_style = serializers.CharField(max_length=50, required=False, allow_blank=True)
    voice_rate = serializers.RegexField(VOICE_RATE_RE, max_length=8, required=False)


class AgentUpdateRequestSerializer(StrictSerializer):
    model = ModelSettingsSerializer(required=False)
    voice = AgentVoiceUpdateSerializer(required=False)

    def validate(self, attrs):
        if not attrs.get("model") and not attrs.get("voice"):
            raise serializers.ValidationError("Send `model` and/or `voice` settings to change.")
        return attrs


class AgentUpdateResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    agent_name = serializers.CharField()
    updated_fields = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()
    response_time_ms = serializers.FloatField()
    note = serializers.CharField()
