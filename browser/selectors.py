"""Reads for the browser sockets and pages."""

from __future__ import annotations

from dataclasses import dataclass

from metrics.models import ConversationSession


@dataclass(frozen=True, slots=True)
class SessionAccess:
    """Who owns a session: `exists` False for a new id, `owner_id` None if anonymous."""

    exists: bool
    owner_id: int | None


def session_access(session_id: str) -> SessionAccess:
    row = ConversationSession.objects.filter(session_id=session_id).values_list("user_id").first()
    if row is None:
        return SessionAccess(exists=False, owner_id=None)
    return SessionAccess(exists=True, owner_id=row[0])
