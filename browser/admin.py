from django.contrib import admin

from browser.models import SessionClaim


@admin.register(SessionClaim)
class SessionClaimAdmin(admin.ModelAdmin):
    """Who started each browser session (read-only: the token itself is never stored)."""

    list_display = ("session_id", "user", "created_at")
    list_filter = (("user", admin.EmptyFieldListFilter),)
    search_fields = ("session_id", "user__username")
    readonly_fields = ("session_id", "user", "created_at")
    exclude = ("token_sha256",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
