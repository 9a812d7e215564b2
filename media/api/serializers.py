from rest_framework import serializers


class RealtimeStatusSerializer(serializers.Serializer):
    provider = serializers.CharField(help_text="REALTIME_PROVIDER: none, azure_voice_live, openai.")
    engine = serializers.ChoiceField(
        choices=["realtime", "cascade fallback"],
        help_text="What answers voice_live calls: the realtime service, or the speech cascade.",
    )
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ProviderCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    backend = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)


class MediaCallSerializer(serializers.Serializer):
    call_connection_id = serializers.CharField()
    session_id = serializers.CharField()
    streaming_mode = serializers.CharField()
    kind = serializers.CharField(help_text="audio, transcription, or pending (no message yet).")
    messages_in = serializers.IntegerField()
    frames_out = serializers.IntegerField()
    stops_out = serializers.IntegerField()
    rejected = serializers.IntegerField(help_text="Bad messages counted and ignored.")


class MediaSessionsSerializer(serializers.Serializer):
    active = serializers.IntegerField(help_text="Media sockets open in this server process.")
    by_mode = serializers.DictField(child=serializers.IntegerField())
    by_kind = serializers.DictField(child=serializers.IntegerField())
    total_opened = serializers.IntegerField()
    total_closed = serializers.IntegerField()
    rejected_messages = serializers.DictField(
        child=serializers.IntegerField(), help_text="Bad input ignored, by reason."
    )
    calls = MediaCallSerializer(many=True)


class MediaFeaturesSerializer(serializers.Serializer):
    real_time_audio = serializers.BooleanField()
    transcription = serializers.BooleanField()
    orchestrator_support = serializers.BooleanField()
    session_management = serializers.BooleanField()
    barge_in = serializers.BooleanField()
    dtmf = serializers.BooleanField()


class MediaStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    streaming_mode = serializers.CharField(help_text="ACS_STREAMING_MODE: the default of calls.")
    streaming_modes = serializers.ListField(child=serializers.CharField())
    websocket_endpoint = serializers.CharField()
    protocols_supported = serializers.ListField(child=serializers.CharField())
    sample_rates_hz = serializers.DictField(child=serializers.IntegerField())
    features = MediaFeaturesSerializer()
    realtime = RealtimeStatusSerializer()
    providers = serializers.DictField(child=ProviderCheckSerializer())
    active_media_sessions = MediaSessionsSerializer()
    version = serializers.CharField()
