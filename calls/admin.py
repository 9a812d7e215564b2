from django.contrib import admin

from calls.models import Call, CallEvent


class CallEventInline(admin.TabularInline):
    model = CallEvent
    extra = 0
    can_delete = False
    fields = ("received_at", "event_type", "source", "event_id")
    readonly_fields = fields
    show_change_link = True


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = (
        "call_connection_id",
        "direction",
        "from_number",
        "to_number",
        "status",
        "streaming_mode",
        "record_call",
        "recording_state",
        "answered_by",
        "created_at",
        "ended_at",
    )
    list_filter = (
        "status",
        "direction",
        "streaming_mode",
        "record_call",
        "recording_state",
        "answered_by",
    )
    search_fields = (
        "call_connection_id",
        "server_call_id",
        "correlation_id",
        "from_number",
        "to_number",
        "session_id",
        "browser_session_id",
        "recording_id",
    )
    date_hierarchy = "created_at"
    # Set by ACS's callbacks: editing them would only make the record disagree with ACS.
    readonly_fields = (
        "id",
        "recording_id",
        "recording_state",
        "answered_by",
        "created_at",
        "updated_at",
    )
    inlines = [CallEventInline]


@admin.register(CallEvent)
class CallEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "event_type", "source", "call", "event_id")
    list_filter = ("source", "event_type")
    search_fields = ("event_id", "event_type", "call__call_connection_id")
    raw_id_fields = ("call",)
    readonly_fields = ("received_at",)
