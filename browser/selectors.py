"""Reads for the browser sockets and pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from calls.models import Call
from metrics.models import ConversationSession


@dataclass(frozen=True, slots=True)
class SessionAccess:
    """Who owns a session: `exists` False for a new id, `owner_id` None if anonymous.

    `phone_call`: the session of a phone call (on the ACS media socket, or named by a call's
    record), which only staff and the call's owner may watch and no browser may join.
    """

    exists: bool
    owner_id: int | None
    phone_call: bool = False


def session_access(session_id: str) -> SessionAccess:
    session = ConversationSession.objects.filter(session_id=session_id).first()
    phone_call = (session is not None and session.is_phone_call) or Call.objects.filter(
        Q(session_id=session_id) | Q(call_connection_id=session_id)
    ).exists()
    return SessionAccess(
        exists=session is not None,
        owner_id=session.user_id if session is not None else None,
        phone_call=phone_call,
    )
