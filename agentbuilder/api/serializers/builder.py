"""Bodies of `/api/v1/agent-builder/*`. Answers are read from `AgentTemplate` and
`SessionAgent` rows."""

from __future__ import annotations

from rest_framework import serializers

from agentbuilder.api.serializers.common import (
    ContextField,
    ModelSettingsSerializer,
    StrictSerializer,
    VoiceSettingsSerializer,
)
from agentbuilder.models import AgentTemplate, SessionAgent
from agentbuilder.rendering import template_error
from agentbuilder.validation import NAME_RE, NAME_RULE
from agentbuilder.voices import VOICE_CATEGORIES
from voiceproject.schema import QuerySerializer


def validate_jinja(value: str) -> str:
    problem = template_error(value)
    if problem:
        raise serializers.ValidationError(f"Invalid Jinja template: {problem}")
    return value


class ToolListQuerySerializer(QuerySerializer):
    category = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="Only tools with this tag."
    )
    include_handoffs = serializers.BooleanField(
        default=True, help_text="Include the agents' handoff tools (true or false)."
    )


class VoiceListQuerySerializer(QuerySerializer):
    category = serializers.ChoiceField(
        choices=VOICE_CATEGORIES, required=False, help_text="Only voices of this category."
    )


class ToolInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    is_handoff = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    parameters = serializers.DictField()
    target_agent = serializers.CharField(required=False)


class ToolListResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    tools = ToolInfoSerializer(many=True)
    categories = serializers.DictField(child=serializers.IntegerField())
    response_time_ms = serializers.FloatField()


class VoiceInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    category = serializers.CharField()
    language = serializers.CharField()
    provider = serializers.CharField()


class VoiceListResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    voices = VoiceInfoSerializer(many=True)
    by_category = serializers.DictField(child=VoiceInfoSerializer(many=True))
    default_voice = serializers.CharField()


class DefaultsSerializer(serializers.Serializer):
    model = ModelSettingsSerializer()
    voice = VoiceSettingsSerializer()
    session = serializers.DictField()
    template_vars = serializers.DictField()


class DefaultsResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    defaults = DefaultsSerializer()
    prompt_template = serializers.CharField()


class TemplateSummarySerializer(serializers.Serializer):
    id = serializers.CharField(source="slug")
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    greeting = serializers.CharField(allow_blank=True)
    prompt_preview = serializers.SerializerMethodField()
    prompt_full = serializers.CharField(source="instructions")
    tools = serializers.ListField(child=serializers.CharField())
    voice = VoiceSettingsSerializer()
    model = ModelSettingsSerializer(source="model_settings")
    is_entry_point = serializers.BooleanField()

    def get_prompt_preview(self, template: AgentTemplate) -> str:
        return template.instructions[:300]


class TemplateListResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    templates = TemplateSummarySerializer(many=True)
    response_time_ms = serializers.FloatField()


class TemplateHandoffSerializer(serializers.Serializer):
    trigger = serializers.CharField(source="handoff_trigger", allow_blank=True)
    is_entry_point = serializers.BooleanField()


class TemplateDetailSerializer(serializers.Serializer):
    id = serializers.CharField(source="slug")
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    greeting = serializers.CharField(allow_blank=True)
    return_greeting = serializers.CharField(allow_blank=True)
    prompt = serializers.CharField(source="instructions")
    tools = serializers.ListField(child=serializers.CharField())
    voice = VoiceSettingsSerializer()
    model = ModelSettingsSerializer(source="model_settings")
    template_vars = serializers.DictField()
    handoff = TemplateHandoffSerializer(source="*")


class TemplateDetailResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    template = TemplateDetailSerializer()


class DynamicAgentConfigSerializer(StrictSerializer):
    """The body of `POST /agent-builder/create` and `PUT /agent-builder/session/{id}`."""

    name = serializers.RegexField(
        NAME_RE, max_length=64, error_messages={"invalid": NAME_RULE}, help_text=NAME_RULE
    )
    description = serializers.CharField(max_length=512, required=False, allow_blank=True)
    greeting = serializers.CharField(
        max_length=1024, required=False, allow_blank=True, validators=[validate_jinja]
    )
    return_greeting = serializers.CharField(
        max_length=1024, required=False, allow_blank=True, validators=[validate_jinja]
    )
    prompt = serializers.CharField(
        min_length=10, max_length=20000, validators=[validate_jinja], help_text="Jinja."
    )
    tools = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=64
    )
    model = ModelSettingsSerializer(required=False)
    voice = VoiceSettingsSerializer(required=False)
    template_vars = serializers.DictField(required=False)


# Context `full`: with the whole prompt and the template variables.
class SessionAgentConfigSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    greeting = serializers.CharField(allow_blank=True)
    prompt_preview = serializers.SerializerMethodField()
    prompt_full = serializers.CharField(source="instructions", required=False)
    tools = serializers.ListField(child=serializers.CharField())
    model = ModelSettingsSerializer(source="model_settings")
    voice = VoiceSettingsSerializer()
    template_vars = serializers.DictField(required=False)
    handoff_trigger = serializers.CharField()

    def get_prompt_preview(self, agent: SessionAgent) -> str:
        return agent.instructions[:200]

    def to_representation(self, agent: SessionAgent) -> dict:
        data = super().to_representation(agent)
        if not self.context.get("full"):
            del data["prompt_full"], data["template_vars"]
        return data


# A `SessionAgent`; context `status`, and `session_token` when the answer hands one over.
class SessionAgentResponseSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    agent_name = serializers.CharField(source="name")
    status = ContextField("status", help_text="created, updated or active")
    config = SessionAgentConfigSerializer(source="*")
    created_at = serializers.DateTimeField()
    modified_at = serializers.DateTimeField(source="updated_at")
    expires_at = serializers.DateTimeField(allow_null=True)
    session_token = ContextField(
        "session_token",
        required=False,
        help_text="Only to an anonymous client whose request started the session, once: send "
        "it as X-Session-Token (REST) or session_token (sockets) to use the session again.",
    )


class SessionAgentDeleteResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="removed or not_found")
    message = serializers.CharField()
    session_id = serializers.CharField()


class SessionAgentBriefSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    agent_name = serializers.CharField(source="name")
    tools_count = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    modified_at = serializers.DateTimeField(source="updated_at")
    expires_at = serializers.DateTimeField(allow_null=True)

    def get_tools_count(self, agent: SessionAgent) -> int:
        return len(agent.tools)


class SessionAgentListResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    sessions = SessionAgentBriefSerializer(many=True)


class SkippedAgentSerializer(serializers.Serializer):
    name = serializers.CharField()
    reason = serializers.CharField()


class ReloadResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    message = serializers.CharField()
    agents = serializers.ListField(
        child=serializers.CharField(),
        help_text="The library's agents now in the database, including those skipped because "
        "they were edited (kept as edited).",
    )
    agent_count = serializers.IntegerField(help_text="len(agents)")
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField())
    skipped = SkippedAgentSerializer(
        many=True, help_text="Library agents not written by this reload, and why."
    )
    skipped_count = serializers.IntegerField(help_text="len(skipped)")
    response_time_ms = serializers.FloatField()
