"""Pieces shared by the agentbuilder API bodies."""

from __future__ import annotations

from rest_framework import serializers

from agentbuilder.validation import MODEL_LIMITS, VOICE_RATE_RE


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
