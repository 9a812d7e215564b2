"""Bodies of `/api/v1/agents`."""

from __future__ import annotations

from rest_framework import serializers

from agentbuilder.api.serializers.common import (
    ConnectionSerializer,
    ModelSettingsSerializer,
    StrictSerializer,
    validate_voice_name,
)
from agentbuilder.validation import VOICE_RATE_RE
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


class AgentVoiceSerializer(serializers.Serializer):
    current_voice = serializers.CharField()
    voice_style = serializers.CharField(allow_blank=True)
    voice_rate = serializers.CharField()
    voice_configurable = serializers.BooleanField()
    is_per_agent_voice = serializers.BooleanField()


class AgentSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField(help_text="loaded or disabled")
    description = serializers.CharField(allow_blank=True)
    prompt_path = serializers.CharField(allow_blank=True)
    config_path = serializers.CharField(allow_blank=True)
    model = ModelSettingsSerializer()
    voice = AgentVoiceSerializer()
    tool_count = serializers.IntegerField()
    tools = serializers.ListField(child=serializers.CharField())
    handoff_tools = serializers.ListField(child=serializers.CharField())
    handoff_trigger = serializers.CharField()
    is_entry_point = serializers.BooleanField()
    enabled = serializers.BooleanField()
    prompt_preview = serializers.CharField(allow_blank=True)
    source = serializers.CharField()
    edited = serializers.BooleanField(help_text="Changed since the library loaded it.")
    updated_at = serializers.DateTimeField()


class AgentDetailSerializer(AgentSummarySerializer):
    greeting = serializers.CharField(allow_blank=True)
    return_greeting = serializers.CharField(allow_blank=True)
    prompt_full = serializers.CharField()
    template_vars = serializers.DictField()
    realtime = serializers.DictField()
    handoff_description = serializers.CharField(allow_blank=True)
    rendered_greeting = serializers.CharField(allow_blank=True)
    rendered_prompt = serializers.CharField(allow_blank=True)


class AgentDetailResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    agent = AgentDetailSerializer()
    response_time_ms = serializers.FloatField()


class AgentBriefSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    handoff_trigger = serializers.CharField()
    is_entry_point = serializers.BooleanField()


class AvailableVoicesSerializer(serializers.Serializer):
    turbo_voices = serializers.ListField(child=serializers.CharField())
    standard_voices = serializers.ListField(child=serializers.CharField())
    hd_voices = serializers.ListField(child=serializers.CharField())
    local_voices = serializers.ListField(child=serializers.CharField())


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
