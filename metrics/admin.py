from django.contrib import admin

from metrics.models import (
    AgentLatencyDaily,
    ConversationSession,
    ServerProcess,
    SessionErrorRecord,
    Turn,
)


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "index",
        "agent",
        "user_text",
        "assistant_text",
        "interrupted",
        "stt_final_ms",
        "llm_ttft_ms",
        "tts_ttfb_ms",
        "first_audio_ms",
        "barge_in_ms",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class SessionErrorInline(admin.TabularInline):
    model = SessionErrorRecord
    extra = 0
    can_delete = False
    fields = ("created_at", "stage", "message")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ConversationSession)
class ConversationSessionAdmin(admin.ModelAdmin):
    list_display = (
        "session_id",
        "transport",
        "status",
        "started_at",
        "ended_at",
        "turn_count",
        "error_count",
        "active_agent",
    )
    list_filter = ("transport", "status", "started_at")
    search_fields = ("session_id", "call_connection_id", "server_instance", "user__username")
    date_hierarchy = "started_at"
    raw_id_fields = ("user",)
    readonly_fields = ("turn_count", "error_count", "summary")
    inlines = [TurnInline, SessionErrorInline]


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = (
        "session",
        "index",
        "agent",
        "interrupted",
        "stt_final_ms",
        "llm_ttft_ms",
        "tts_ttfb_ms",
        "first_audio_ms",
        "created_at",
    )
    list_filter = ("agent", "interrupted", "created_at")
    search_fields = ("session__session_id", "user_text", "assistant_text")
    raw_id_fields = ("session",)


@admin.register(AgentLatencyDaily)
class AgentLatencyDailyAdmin(admin.ModelAdmin):
    list_display = ("day", "agent", "stage", "count", "avg_ms", "p50_ms", "p95_ms", "p99_ms")
    list_filter = ("stage", "agent", "day")
    date_hierarchy = "day"

    def has_add_permission(self, request):
        return False


@admin.register(ServerProcess)
class ServerProcessAdmin(admin.ModelAdmin):
    """Serving processes and their last heartbeat (written by the processes themselves)."""

    list_display = ("instance_id", "hostname", "pid", "started_at", "last_seen_at", "swept_at")
    search_fields = ("instance_id", "hostname")
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
