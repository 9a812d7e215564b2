"""Bodies of `/api/v1/demo-env/temporary-user`."""

from __future__ import annotations

from rest_framework import serializers

from voiceproject.schema import JsonBodySerializer, QuerySerializer


class DemoUserRequestSerializer(JsonBodySerializer):
    full_name = serializers.CharField(min_length=1, max_length=120)
    email = serializers.EmailField()
    phone_number = serializers.RegexField(r"^\+\d{10,15}$", required=False)
    preferred_channel = serializers.ChoiceField(choices=["email", "sms"], required=False)
    session_id = serializers.CharField(min_length=5, max_length=120, required=False)

    def validate_full_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A name is required.")
        return value


class DemoUserLookupSerializer(QuerySerializer):
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
    session_token = serializers.CharField(
        required=False,
        help_text="Only to an anonymous client whose profile started the session, once: send it "
        "as X-Session-Token (REST) or session_token (sockets) to use the session again.",
    )
    safety_notice = serializers.CharField()
    profile = DemoProfileSerializer()
    transactions = DemoTransactionSerializer(many=True)
    interaction_plan = InteractionPlanSerializer()
