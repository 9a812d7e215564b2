"""Reads for the browser sockets and pages: who may use a conversation session."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from django.db.models import Q

from browser.models import SessionClaim
from browser.services import token_digest
from calls.models import Call
from metrics.models import ConversationSession


@dataclass(frozen=True, slots=True)
class SessionAccess:
    """Who may use a session id, for a client that presented a token (or none).

    - `owner_id`: the signed-in user who owns it (the stored session's user, else the user who
      claimed the id), None for an anonymous session.
    - `claimed`: an anonymous visitor claimed the id; `token_valid`: the token presented is
      theirs.
    - `phone_call`: the session of a phone call (on the ACS media socket, or named by a call's
      record): only staff and the call's owner may watch it, no browser may join it.
    - `exists`: a conversation is stored under the id.
    """

    exists: bool
    owner_id: int | None
    phone_call: bool = False
    claimed: bool = False
    token_valid: bool = False

    @property
    def is_new(self) -> bool:
        """Nobody has used the id: the first client to use it claims it."""
        return not (self.exists or self.phone_call or self.claimed or self.owner_id is not None)

    def is_creator(self, user) -> bool:
        """`user` (None: anonymous) started the session, or may start it (a new id)."""
        if self.owner_id is not None:
            return user is not None and user.pk == self.owner_id
        if self.phone_call:
            return False
        if self.claimed:
            return self.token_valid
        # A stored session nobody owns or claimed (kept from before tokens) has no creator
        # who could prove it; staff may still watch it.
        return not self.exists

    def may_watch(self, user) -> bool:
        """Staff, or the session's creator (a session that does not exist yet: staff only)."""
        if user is not None and user.is_staff:
            return True
        return not self.is_new and self.is_creator(user)

    def refusal(self, user) -> str:
        """Why `user` is not the session's creator, as the client should read it."""
        if self.owner_id is not None:
            return "This session belongs to another user."
        if self.phone_call:
            return "This session is a phone call's."
        if self.claimed:
            return "This session belongs to another visitor: present its session token."
        return "This session has no owner who could resume it."


def session_access(session_id: str, *, token: str = "") -> SessionAccess:
    """Who may use `session_id`, for a client presenting `token` (sync: off the event loop)."""
    session = ConversationSession.objects.filter(session_id=session_id).first()
    claim = SessionClaim.objects.filter(session_id=session_id).first()
    phone_call = (session is not None and session.is_phone_call) or Call.objects.filter(
        Q(session_id=session_id) | Q(call_connection_id=session_id)
    ).exists()
    owner_id = session.user_id if session is not None else None
    if owner_id is None and claim is not None:
        owner_id = claim.user_id
    anonymous_claim = claim is not None and claim.user_id is None
    return SessionAccess(
        exists=session is not None,
        owner_id=owner_id,
        phone_call=phone_call,
        claimed=anonymous_claim,
        token_valid=anonymous_claim
        and bool(token)
        and hmac.compare_digest(claim.token_sha256, token_digest(token)),
    )
