"""Who started each browser session: a signed-in user, or an anonymous visitor known by a token."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class SessionClaim(models.Model):
    """The first client to use a browser session id, and so the only one (with staff, where
    the rules say so) who may resume it, watch it, read its turns or bind an agent or a demo
    profile to it.

    An anonymous visitor is known by a token handed to them once, when they claimed the id (the
    conversation socket's first `status`, or the REST answer that first used the id); only its
    SHA-256 is stored. A signed-in user is known by their account.
    """

    session_id = models.CharField(max_length=128, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="session_claims",
    )
    token_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(token_sha256=""))
                | (Q(user__isnull=True) & ~Q(token_sha256="")),
                name="browser_claim_by_user_or_token",
            )
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else "an anonymous visitor"
        return f"session {self.session_id} of {who}"
