"""Pieces shared by the agentbuilder API bodies."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import SkipField

from agentbuilder.validation import MODEL_LIMITS, VOICE_RATE_RE, voice_error
from voiceproject.schema import JsonBodySerializer


class StrictSerializer(JsonBodySerializer):
    """A request body whose unknown keys are errors naming them, not silently dropped."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            expected = ", ".join(self.fields)
            unknown = {
                key: [f"Unknown field; expected one of: {expected}."]
                for key in sorted(set(data) - set(self.fields))
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def validate_voice_name(value: str) -> str:
    problem = voice_error(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class ModelSettingsSerializer(StrictSerializer):
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


class VoiceSettingsSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False, validators=[validate_voice_name])
    type = serializers.CharField(max_length=30, required=False)
    style = serializers.CharField(max_length=50, required=False, allow_blank=True)
    rate = serializers.RegexField(VOICE_RATE_RE, max_length=8, required=False)


class ConnectionSerializer(serializers.Serializer):
    source = serializers.CharField()
    tool = serializers.CharField()
    target = serializers.CharField()


class ContextField(serializers.CharField):
    """A value of the answer that the view knows, not the object it shows (the serializer's
    context `key`); left out when the context has none and the field is not required."""

    def __init__(self, key: str, **kwargs) -> None:
        self.key = key
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = self.context.get(self.key)
        if not value and not self.required:
            raise SkipField()
        return value
