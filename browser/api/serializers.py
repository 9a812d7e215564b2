from rest_framework import serializers


class WebsocketEndpointsSerializer(serializers.Serializer):
    dashboard_relay = serializers.CharField()
    conversation = serializers.CharField()


class ActiveConnectionsSerializer(serializers.Serializer):
    dashboard_clients = serializers.IntegerField()
    conversation_sessions = serializers.IntegerField()
    total_connections = serializers.IntegerField()


class BrowserStatusSerializer(serializers.Serializer):
    """The original's `/browser/status` answer, with live counts of this server process."""

    status = serializers.CharField()
    websocket_endpoints = WebsocketEndpointsSerializer()
    features = serializers.DictField(child=serializers.BooleanField())
    active_connections = ActiveConnectionsSerializer()
    streaming_modes = serializers.ListField(child=serializers.CharField())
    audio_sample_rate = serializers.IntegerField()
    protocols_supported = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField()
