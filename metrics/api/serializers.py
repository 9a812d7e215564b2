from rest_framework import serializers


class HealthDetailsSerializer(serializers.Serializer):
    api_version = serializers.CharField()
    service = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    version = serializers.CharField()
    timestamp = serializers.DateTimeField()
    message = serializers.CharField()
    details = HealthDetailsSerializer()


class ReadinessCheckSerializer(serializers.Serializer):
    component = serializers.CharField()
    status = serializers.ChoiceField(choices=["healthy", "unhealthy"])
    check_time_ms = serializers.FloatField()
    required = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    details = serializers.DictField()


class ReadinessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ready", "degraded", "unhealthy"])
    timestamp = serializers.DateTimeField()
    response_time_ms = serializers.FloatField()
    checks = ReadinessCheckSerializer(many=True)
