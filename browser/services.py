"""Writes of the browser app: new session ids and who claims them."""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.db import IntegrityError, transaction

from browser.models import SessionClaim

logger = logging.getLogger(__name__)


def new_session_id() -> str:
    """A fresh, unguessable session id (144 random bits): `session_<24 url-safe characters>`."""
    return f"session_{secrets.token_urlsafe(18)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_claim(*, session_id: str, user=None) -> str | None:
    """Claim a new session id for its first client.

    Args:
        user: the signed-in user, or None for an anonymous visitor.

    Returns:
        The anonymous visitor's token (to hand them once; "" for a signed-in user), or None
        when another client claimed the id first.
    """
    signed_in = user is not None and user.is_authenticated
    token = "" if signed_in else secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            SessionClaim.objects.create(
                session_id=session_id,
                user=user if signed_in else None,
                token_sha256=token_digest(token) if token else "",
            )
    except IntegrityError:
        logger.info("session %s: already claimed by another client", session_id)
        return None
    logger.info("session %s: claimed by %s", session_id, "a user" if signed_in else "a visitor")
    return token
