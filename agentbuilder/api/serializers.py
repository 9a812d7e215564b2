"""Request and response bodies of the agent, agent-builder and demo-env endpoints.

Response field names follow the original API so its clients keep working.
"""

from __future__ import annotations

from rest_framework import serializers

from agentbuilder.validation import MODEL_LIMITS, NAME_RE, VOICE_RATE_RE

# --- shared pieces ------------------------------------------------------------------------


class ModelSettingsSerializer(serializers.Serializer):
    deployment_id = serializers.CharField(max_length=100, required=False)
    temperature = serializers.FloatField(
        min_value=MODEL_LIMITS["temperature"][0],
        max_value=MODEL_LIMITS["temperature"][1],
        required=False,
    )
    top_p = serializers.FloatField(
        min_value=MODEL_LIMITS["top_p"][0], max_value=MODEL_LIMITS["top_p"][1], required=False
    )
    max_tokens = serializers.IntegerField(
        min_value=MODEL_LIMITS["max_tokens"][0],
        max_value=MODEL_LIMITS["max_tokens"][1],
        required=False,
    )


class VoiceSettingsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    type = serializers.CharField(max_length=30, required=False)
    style = serializers.CharField(max_length=50, required=False, allow_blank=True)
    rate = serializers.RegexField(VOICE_RATE_RE, max_length=8, required=False)


class ConnectionSerializer(serializers.Serializer):
    source = serializers.CharField()
    tool = serializers.CharField()
    target = serializers.CharField()


# --- /agents --------------------------------------------------------------------------------


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


class AgentVoiceUpdateSerializer(serializers.Serializer):
    voice_name = serializers.CharField(max_length=100, required=False)
    voice_style = serializers.CharField(max_length=50, required=False, allow_blank=True)
    voice_rate = serializers.RegexField(VOICE_RATE_RE, max_length=8, required=False)


class AgentUpdateRequestSerializer(serializers.Serializer):
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


# --- /agent-builder -------------------------------------------------------------------------


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
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    greeting = serializers.CharField(allow_blank=True)
    prompt_preview = serializers.CharField()
    prompt_full = serializers.CharField()
    tools = serializers.ListField(child=serializers.CharField())
    voice = VoiceSettingsSerializer()
    model = ModelSettingsSerializer()
    is_entry_point = serializers.BooleanField()


class TemplateListResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    templates = TemplateSummarySerializer(many=True)
    response_time_ms = serializers.FloatField()


class TemplateHandoffSerializer(serializers.Serializer):
    trigger = serializers.CharField(allow_blank=True)
    is_entry_point = serializers.BooleanField()


class TemplateDetailSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    greeting = serializers.CharField(allow_blank=True)
    return_greeting = serializers.CharField(allow_blank=True)
    prompt = serializers.CharField()
    tools = serializers.ListField(child=serializers.CharField())
    voice = VoiceSettingsSerializer()
    model = ModelSettingsSerializer()
    template_vars = serializers.DictField()
    handoff = TemplateHandoffSerializer()


class TemplateDetailResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    template = TemplateDetailSerializer()


class DynamicAgentConfigSerializer(serializers.Serializer):
    """The body of `POST /agent-builder/create` and `PUT /agent-builder/session/{id}`."""

    name = serializers.RegexField(NAME_RE, max_length=64)
    description = serializers.CharField(max_length=512, required=False, allow_blank=True)
    greeting = serializers.CharField(max_length=1024, required=False, allow_blank=True)
    return_greeting = serializers.CharField(max_length=1024, required=False, allow_blank=True)
    prompt = serializers.CharField(min_length=10, max_length=20000)
    tools = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=64
    )
    model = ModelSettingsSerializer(required=False)
    voice = VoiceSettingsSerializer(required=False)
    template_vars = serializers.DictField(required=False)


class SessionAgentConfigSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    greeting = serializers.CharField(allow_blank=True)
    prompt_preview = serializers.CharField()
    prompt_full = serializers.CharField(required=False)
    tools = serializers.ListField(child=serializers.CharField())
    model = ModelSettingsSerializer()
    voice = VoiceSettingsSerializer()
    template_vars = serializers.DictField(required=False)
    handoff_trigger = serializers.CharField()


class SessionAgentResponseSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    agent_name = serializers.CharField()
    status = serializers.CharField(help_text="created, updated or active")
    config = SessionAgentConfigSerializer()
    created_at = serializers.DateTimeField()
    modified_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


class SessionAgentDeleteResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="removed or not_found")
    message = serializers.CharField()
    session_id = serializers.CharField()


class SessionAgentBriefSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    agent_name = serializers.CharField()
    tools_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    modified_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


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
    agents = serializers.ListField(child=serializers.CharField())
    agent_count = serializers.IntegerField()
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField())
    skipped = SkippedAgentSerializer(many=True)
    response_time_ms = serializers.FloatField()


# --- /demo-env ------------------------------------------------------------------------------


class DemoUserRequestSerializer(serializers.Serializer):
    full_name = serializers.CharField(min_length=1, max_length=120)
    email = serializers.EmailField()
    phone_number = serializers.RegexField(r"^\+\d{10,15}$", required=False)
    preferred_channel = serializers.ChoiceField(choices=["email", "sms"], required=False)
    session_id = serializers.CharField(min_length=5, max_length=120, required=False)

    def validate_full_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A name is required.")
        return value


class DemoUserLookupSerializer(serializers.Serializer):
    email = serializers.EmailField()
    session_id = serializers.CharField(min_length=5, max_length=120, required=False)


class VerificationCodesSerializer(serializers.Serializer):
    ssn4 = serializers.CharField()
    employee_id4 = serializers.CharField()
    phone4 = serializers.CharField()
    mfa_code = serializers.CharField()
    esignature_code = serializers.CharField()


class ContactInfoSerializer(serializers.Serializer):
    email = serializers.EmailField()
    phone = serializers.CharField()
    preferred_mfa_method = serializers.CharField()


class MfaSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    code_expiry_minutes = serializers.IntegerField()
    max_attempts = serializers.IntegerField()


class DemoProfileSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.EmailField()
    phone_number = serializers.CharField()
    relationship_tier = serializers.CharField()
    created_at = serializers.DateTimeField()
    institution_name = serializers.CharField()
    company_code = serializers.CharField()
    company_code_last4 = serializers.CharField()
    client_type = serializers.CharField()
    authorization_level = serializers.CharField()
    max_transaction_limit = serializers.FloatField()
    mfa_required_threshold = serializers.FloatField()
    contact_info = ContactInfoSerializer()
    verification_codes = VerificationCodesSerializer(
        required=False, help_text="Only in the creation response; stored hashed, never shown again."
    )
    mfa_settings = MfaSettingsSerializer()
    compliance = serializers.DictField()
    customer_intelligence = serializers.DictField()


class DemoTransactionSerializer(serializers.Serializer):
    transaction_id = serializers.CharField()
    merchant = serializers.CharField()
    amount = serializers.FloatField()
    category = serializers.CharField()
    timestamp = serializers.DateTimeField()
    risk_score = serializers.IntegerField()


class InteractionPlanSerializer(serializers.Serializer):
    primary_channel = serializers.CharField()
    fallback_channel = serializers.CharField()
    notification_message = serializers.CharField()
    mfa_required = serializers.BooleanField()


class DemoUserResponseSerializer(serializers.Serializer):
    entry_id = serializers.CharField()
    expires_at = serializers.DateTimeField()
    session_id = serializers.CharField(allow_null=True)
    safety_notice = serializers.CharField()
    profile = DemoProfileSerializer()
    transactions = DemoTransactionSerializer(many=True)
    interaction_plan = InteractionPlanSerializer()
