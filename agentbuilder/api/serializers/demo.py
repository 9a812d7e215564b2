"""Bodies of `/api/v1/demo-env/temporary-user`. Answers are read from a `DemoUser`."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import SkipField

from agentbuilder.api.serializers.common import ContextField
from agentbuilder.models import DemoUser
from agentbuilder.services.demo import CODE_MAX_ATTEMPTS, SAFETY_NOTICE
from voiceproject.schema import JsonBodySerializer, QuerySerializer

RECENT_TRANSACTIONS = 5


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


# The plain codes of a profile just made (context `codes`), never stored or read again.
class VerificationCodesSerializer(serializers.Serializer):
    ssn4 = serializers.CharField()
    employee_id4 = serializers.CharField()
    phone4 = serializers.CharField()
    mfa_code = serializers.CharField(source="mfa")
    esignature_code = serializers.CharField(source="esign")

    def get_attribute(self, user: DemoUser):
        codes = self.context.get("codes")
        if codes is None:
            raise SkipField()
        return codes


class ContactInfoSerializer(serializers.Serializer):
    email = serializers.EmailField()
    phone = serializers.CharField(source="phone_number")
    preferred_mfa_method = serializers.CharField(source="preferred_channel")


class MfaSettingsSerializer(serializers.Serializer):
    enabled = serializers.SerializerMethodField()
    code_expiry_minutes = serializers.SerializerMethodField()
    max_attempts = serializers.SerializerMethodField()

    def get_enabled(self, user: DemoUser) -> bool:
        return True

    def get_code_expiry_minutes(self, user: DemoUser) -> int:
        return int((user.expires_at - user.created_at).total_seconds() // 60)

    def get_max_attempts(self, user: DemoUser) -> int:
        return CODE_MAX_ATTEMPTS


class DemoProfileSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.EmailField()
    phone_number = serializers.CharField()
    relationship_tier = serializers.CharField()
    created_at = serializers.DateTimeField()
    institution_name = serializers.CharField()
    company_code = serializers.CharField()
    company_code_last4 = serializers.SerializerMethodField()
    client_type = serializers.CharField()
    authorization_level = serializers.CharField()
    max_transaction_limit = serializers.FloatField()
    mfa_required_threshold = serializers.FloatField()
    contact_info = ContactInfoSerializer(source="*")
    verification_codes = VerificationCodesSerializer(
        required=False, help_text="Only in the creation response; stored hashed, never shown again."
    )
    mfa_settings = MfaSettingsSerializer(source="*")
    compliance = serializers.DictField()
    customer_intelligence = serializers.DictField()

    def get_company_code_last4(self, user: DemoUser) -> str:
        return user.company_code[-4:]


class DemoTransactionSerializer(serializers.Serializer):
    transaction_id = serializers.CharField()
    merchant = serializers.CharField()
    amount = serializers.FloatField()
    category = serializers.CharField()
    timestamp = serializers.DateTimeField()
    risk_score = serializers.IntegerField()


class RecentTransactionsSerializer(serializers.ListSerializer):
    def get_attribute(self, user: DemoUser):
        return user.transactions.all()[:RECENT_TRANSACTIONS]


class InteractionPlanSerializer(serializers.Serializer):
    primary_channel = serializers.CharField(source="preferred_channel")
    fallback_channel = serializers.SerializerMethodField()
    notification_message = serializers.SerializerMethodField()
    mfa_required = serializers.SerializerMethodField()

    def get_fallback_channel(self, user: DemoUser) -> str:
        return "sms" if user.preferred_channel == "email" else "email"

    def get_notification_message(self, user: DemoUser) -> str:
        return (
            f"Hello {user.full_name.split()[0]}, your {user.institution_name} demo profile "
            "is ready. Call the assistant and verify with your name and SSN last four."
        )

    def get_mfa_required(self, user: DemoUser) -> bool:
        return True


# A `DemoUser`; context `codes` for a profile just made, `session_token` when the answer hands
# one over.
class DemoUserResponseSerializer(serializers.Serializer):
    entry_id = serializers.CharField()
    expires_at = serializers.DateTimeField()
    session_id = serializers.SerializerMethodField()
    session_token = ContextField(
        "session_token",
        required=False,
        help_text="Only to an anonymous client whose profile started the session, once: send it "
        "as X-Session-Token (REST) or session_token (sockets) to use the session again.",
    )
    safety_notice = serializers.SerializerMethodField()
    profile = DemoProfileSerializer(source="*")
    transactions = RecentTransactionsSerializer(child=DemoTransactionSerializer())
    interaction_plan = InteractionPlanSerializer(source="*")

    def get_session_id(self, user: DemoUser) -> str | None:
        return user.session_id or None

    def get_safety_notice(self, user: DemoUser) -> str:
        return SAFETY_NOTICE
