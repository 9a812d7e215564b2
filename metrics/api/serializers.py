from rest_framework import serializers

from voiceproject.schema import QuerySerializer


class HealthDetailsSerializer(serializers.Serializer):
    api_version = serializers.CharField()
    service = serializers.CharField()


class SessionCountsSerializer(serializers.Serializer):
    connected = serializers.IntegerField(help_text="Sessions open in this process")
    disconnected = serializers.IntegerField(help_text="Sessions closed since the process started")
    active = serializers.IntegerField()
    total_connected = serializers.IntegerField(help_text="Sessions opened since the start")
    browser = serializers.IntegerField()
    acs = serializers.IntegerField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    version = serializers.CharField()
    timestamp = serializers.DateTimeField()
    message = serializers.CharField()
    details = HealthDetailsSerializer()
    active_sessions = serializers.IntegerField(help_text="Sessions open in this process")
    session_metrics = SessionCountsSerializer()


class ReadinessCheckSerializer(serializers.Serializer):
    component = serializers.CharField()
    status = serializers.ChoiceField(choices=["healthy", "unhealthy"])
    check_time_ms = serializers.FloatField()
    required = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    details = serializers.DictField()
    dependency = serializers.CharField(
        allow_null=True, help_text="The external service it checks: database, redis (or null)"
    )


class ReadinessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ready", "degraded", "unhealthy"])
    timestamp = serializers.DateTimeField()
    response_time_ms = serializers.FloatField()
    checks = ReadinessCheckSerializer(many=True)
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why it answers 503: the dependencies down and the failed required checks",
    )
    down = serializers.ListField(
        child=serializers.ChoiceField(choices=["database", "redis"]),
        help_text="Dependencies that cannot be reached (status degraded; live calls go on)",
    )


# --- the serving event loop ---------------------------------------------------------------


class StallCountsSerializer(serializers.Serializer):
    over_50_ms = serializers.IntegerField()
    over_100_ms = serializers.IntegerField()
    over_250_ms = serializers.IntegerField()
    over_1000_ms = serializers.IntegerField()


class LoopLagSerializer(serializers.Serializer):
    running = serializers.BooleanField(help_text="False until a request has started the monitor")
    tick_ms = serializers.FloatField(help_text="The ticker's sleep")
    window_s = serializers.FloatField(help_text="The figures cover the last window_s seconds")
    ticks = serializers.IntegerField(help_text="Wake-ups in the window")
    p50_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(
        allow_null=True, help_text="Counting the ticks a stall swallowed (coordinated omission)"
    )
    max_ms = serializers.FloatField(allow_null=True)
    stalls = StallCountsSerializer(help_text="Wake-ups at least this late in the window")
    ready_limit_ms = serializers.FloatField(help_text="LOOP_LAG_READY_MS (0: never unready)")
    saturated = serializers.BooleanField(help_text="p99 over ready_limit_ms: readiness is 503")
    tasks = serializers.IntegerField(
        allow_null=True, help_text="asyncio tasks on the event loop (a leak grows it)"
    )


class LoopLagPointSerializer(serializers.Serializer):
    t = serializers.IntegerField(help_text="Unix time of the second")
    max_ms = serializers.FloatField(help_text="Largest lag reached in that second")
    p99_ms = serializers.FloatField(allow_null=True, help_text="Null: no wake-up in that second")
    ticks = serializers.IntegerField()


class LoopLagSeriesSerializer(LoopLagSerializer):
    series = LoopLagPointSerializer(many=True, help_text="Per second, oldest first (≤ 5 min)")
    timestamp = serializers.DateTimeField()


# --- session metrics ----------------------------------------------------------------------


class StageLatencySerializer(serializers.Serializer):
    avg_ms = serializers.FloatField()
    min_ms = serializers.FloatField()
    max_ms = serializers.FloatField()
    p50_ms = serializers.FloatField()
    p95_ms = serializers.FloatField(help_text="Linearly interpolated, at any sample count")
    p99_ms = serializers.FloatField(help_text="Linearly interpolated, at any sample count")
    count = serializers.IntegerField()


class LatencySummaryField(serializers.DictField):
    """Stage name (stt_final, llm_ttft, llm_total, tts_ttfb, first_audio, barge_in) → stats."""

    child = StageLatencySerializer()


class TokenUsageSerializer(serializers.Serializer):
    total_input_tokens = serializers.IntegerField()
    total_output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    avg_input_per_turn = serializers.FloatField()
    avg_output_per_turn = serializers.FloatField()


def _transport_type(transport: str) -> str:
    return transport.upper()


class SessionListItemSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    transport_type = serializers.SerializerMethodField(help_text="BROWSER or ACS")
    status = serializers.CharField()
    start_time = serializers.DateTimeField(source="started_at")
    end_time = serializers.DateTimeField(source="ended_at", allow_null=True)
    call_connection_id = serializers.CharField(allow_blank=True)
    streaming_mode = serializers.CharField(allow_blank=True)
    turn_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    active_agent = serializers.CharField(allow_blank=True)
    agents_visited = serializers.ListField(child=serializers.CharField())
    session_duration_ms = serializers.FloatField(source="duration_ms", allow_null=True)
    avg_first_audio_ms = serializers.FloatField(allow_null=True)

    def get_transport_type(self, obj) -> str:
        return _transport_type(obj.transport)


class SessionListSerializer(serializers.Serializer):
    total_active = serializers.IntegerField()
    media_sessions = serializers.IntegerField(help_text="Active phone (ACS) sessions")
    browser_sessions = serializers.IntegerField(help_text="Active browser sessions")
    total_disconnected = serializers.IntegerField()
    sessions = SessionListItemSerializer(many=True)


class SessionListQuerySerializer(QuerySerializer):
    status = serializers.ChoiceField(
        choices=["active", "completed", "failed", "abandoned", "disconnected"], required=False
    )
    transport = serializers.ChoiceField(choices=["browser", "acs"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=50)


class ToolCallSerializer(serializers.Serializer):
    name = serializers.CharField()
    duration_ms = serializers.FloatField(required=False)
    status = serializers.CharField(required=False)


class TurnSerializer(serializers.Serializer):
    turn_number = serializers.IntegerField(source="index")
    agent = serializers.CharField()
    user_text = serializers.CharField()
    assistant_text = serializers.CharField(help_text="What was actually played")
    interrupted = serializers.BooleanField()
    stt_latency_ms = serializers.FloatField(source="stt_final_ms", allow_null=True)
    llm_ttfb_ms = serializers.FloatField(source="llm_ttft_ms", allow_null=True)
    llm_total_ms = serializers.FloatField(allow_null=True)
    tts_ttfb_ms = serializers.FloatField(allow_null=True)
    tts_total_ms = serializers.SerializerMethodField(help_text="Not measured (always null)")
    total_latency_ms = serializers.FloatField(
        source="first_audio_ms",
        allow_null=True,
        help_text="End of the user's speech → first audio frame of the answer",
    )
    barge_in_ms = serializers.FloatField(allow_null=True)
    input_tokens = serializers.IntegerField(source="tokens_in")
    output_tokens = serializers.IntegerField(source="tokens_out")
    tool_calls = ToolCallSerializer(many=True)
    timestamp = serializers.DateTimeField(source="created_at")

    def get_tts_total_ms(self, obj) -> float | None:
        return None


class SessionErrorSerializer(serializers.Serializer):
    stage = serializers.CharField()
    message = serializers.CharField()
    timestamp = serializers.DateTimeField(source="created_at")


class SessionDetailQuerySerializer(QuerySerializer):
    include_turns = serializers.BooleanField(default=False)


class SessionDetailSerializer(serializers.Serializer):
    session_id = serializers.CharField(source="session.session_id")
    call_connection_id = serializers.SerializerMethodField()
    transport_type = serializers.SerializerMethodField(help_text="BROWSER or ACS")
    streaming_mode = serializers.CharField(source="session.streaming_mode")
    turn_count = serializers.IntegerField()
    interrupted_turns = serializers.IntegerField()
    session_duration_ms = serializers.FloatField(
        allow_null=True, help_text="Start → end, or → now while active"
    )
    latency_summary = LatencySummaryField()
    token_usage = TokenUsageSerializer(allow_null=True)
    turns = TurnSerializer(many=True, allow_null=True)
    errors = SessionErrorSerializer(many=True, allow_null=True)
    status = serializers.CharField(source="session.status")
    error_count = serializers.IntegerField(source="session.error_count")
    active_agent = serializers.CharField(source="session.active_agent")
    agents_visited = serializers.ListField(
        child=serializers.CharField(), source="session.agents_visited"
    )
    start_time = serializers.DateTimeField(source="session.started_at")
    end_time = serializers.DateTimeField(source="session.ended_at", allow_null=True)

    def get_call_connection_id(self, obj) -> str | None:
        return obj.session.call_connection_id or None

    def get_transport_type(self, obj) -> str:
        return _transport_type(obj.session.transport)


class SummaryQuerySerializer(QuerySerializer):
    window_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=60)


class MetricsSummarySerializer(serializers.Serializer):
    window_minutes = serializers.IntegerField()
    window_start = serializers.DateTimeField()
    active_connections = serializers.IntegerField(help_text="Sessions active now")
    browser_sessions = serializers.IntegerField(help_text="Browser sessions active now")
    media_sessions = serializers.IntegerField(help_text="Phone sessions active now")
    total_connected = serializers.IntegerField(help_text="Sessions started in the window")
    total_disconnected = serializers.IntegerField(help_text="Sessions ended in the window")
    session_ids = serializers.ListField(
        child=serializers.CharField(), help_text="Sessions of the window, newest first (≤ 100)"
    )
    turn_count = serializers.IntegerField()
    interrupted_turns = serializers.IntegerField()
    error_count = serializers.IntegerField()
    latency_summary = LatencySummaryField()
    token_usage = TokenUsageSerializer(allow_null=True)
    agents = serializers.DictField(child=serializers.IntegerField(), help_text="Turns per agent")
    last_updated = serializers.DateTimeField()


# --- the TTS worker pool ------------------------------------------------------------------


class TTSPoolHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    active_sessions = serializers.IntegerField()
    session_awareness = serializers.BooleanField()
    max_size = serializers.IntegerField()
    queue_depth = serializers.IntegerField()
    consecutive_failures = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    timestamp = serializers.DateTimeField()


class PhraseCacheSerializer(serializers.Serializer):
    phrases = serializers.IntegerField()
    bytes = serializers.IntegerField()
    max_bytes = serializers.IntegerField()
    hits = serializers.IntegerField()
    misses = serializers.IntegerField()


class TTSPoolMetricsSerializer(serializers.Serializer):
    active_sessions = serializers.IntegerField()
    allocations_total = serializers.IntegerField()
    allocations_cached = serializers.IntegerField(help_text="The session's own synthesizer again")
    allocations_new = serializers.IntegerField(help_text="Newly built synthesizers")
    allocations_warm = serializers.IntegerField(help_text="Idle warm synthesizers reused")
    size = serializers.IntegerField()
    max_size = serializers.IntegerField()
    idle = serializers.IntegerField()
    idle_by_voice = serializers.DictField(child=serializers.IntegerField())
    building = serializers.IntegerField()
    queue_depth = serializers.IntegerField()
    max_queue_depth = serializers.IntegerField()
    releases = serializers.IntegerField()
    discards = serializers.IntegerField()
    evictions = serializers.IntegerField()
    rejections = serializers.IntegerField(help_text="Acquisitions refused: pool full")
    factory_failures = serializers.IntegerField()
    peak_active_sessions = serializers.IntegerField()
    phrase_cache = PhraseCacheSerializer(
        allow_null=True, help_text="Phrases spoken from memory (null: TTS_PHRASE_CACHE_MB=0)"
    )
    event_loop = LoopLagSerializer(help_text="This process's event-loop lag")
    timestamp = serializers.DateTimeField()


class TTSPoolStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "error"])
    timestamp = serializers.DateTimeField()
