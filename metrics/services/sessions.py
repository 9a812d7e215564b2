"""Ending a conversation session from outside (the sessions API), and erasing what it stored.

Sync: call from a view or a task, not from an event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from metrics import live, selectors
from metrics.models import ConversationSession, SessionStatus
from metrics.registry import speech_stack
from metrics.writer import flush_blocking

logger = logging.getLogger(__name__)

END_REASON = "ended through the sessions API"


def session_find(session_id: str) -> ConversationSession | None:
    """The session's row; one opened in this process a moment ago is waited for.

    Its row is written by the background writer, so a request that follows the socket's
    first words closely would otherwise not find a conversation that is live.
    """
    session = selectors.session_get(session_id)
    if session is None and live.is_open(session_id):
        flush_blocking(timeout_s=5.0)
        session = selectors.session_get(session_id)
    return session


@dataclass(frozen=True, slots=True)
class SessionEndOutcome:
    """What ending a session did.

    - `was_live`: a socket was hosting its conversation and has ended it (the client told,
      the turns and state stored);
    - `call_hung_up`: a phone call carrying it was hung up by this request; `call_error` says
      why a hang-up failed (the session is ended all the same);
    - `status`: the session's final status, None once erased.
    """

    session_id: str
    was_live: bool
    call_hung_up: bool
    call_error: str
    erased: bool
    status: str | None


def session_end(*, session_id: str, erase: bool = False) -> SessionEndOutcome:
    """End a session: stop its live conversation, hang up its call, optionally erase it.

    The conversation's socket, on any server process, is asked through the channel layer to
    store and close it (the speech stack's `conversation_end`, `metrics.registry`); a session
    marked active that no socket answers for within `SESSION_END_WAIT_S` is closed here.
    Erasing deletes the session with its turns, errors and saved state (the call's own record
    stays in the calls app).

    Raises:
        ConversationSession.DoesNotExist: no session has this id.
    """
    from metrics import services

    session = ConversationSession.objects.get(session_id=session_id)
    was_live = False
    if session.status == SessionStatus.ACTIVE:
        was_live = async_to_sync(speech_stack().conversation_end)(
            session_id=session_id, reason=END_REASON, timeout_s=settings.SESSION_END_WAIT_S
        )
    hung_up, call_error = _hang_up(session)
    if not was_live and session.status == SessionStatus.ACTIVE:
        services.session_close(session_id=session_id, status=SessionStatus.COMPLETED)
        services.flush_blocking()
    if erase:
        with transaction.atomic():
            ConversationSession.objects.filter(session_id=session_id).delete()
        logger.info("session %s: erased", session_id)
        status = None
    else:
        status = ConversationSession.objects.values_list("status", flat=True).get(
            session_id=session_id
        )
    return SessionEndOutcome(
        session_id=session_id,
        was_live=was_live,
        call_hung_up=hung_up,
        call_error=call_error,
        erased=erase,
        status=status,
    )


def _hang_up(session: ConversationSession) -> tuple[bool, str]:
    """Hang up the call carrying the session, if one is still up: (hung up, error)."""
    from calls import acs_client
    from calls.selectors import call_of_session
    from calls.services import call_terminate

    call = call_of_session(
        session_id=session.session_id, call_connection_id=session.call_connection_id
    )
    if call is None or call.is_final or not call.call_connection_id:
        return False, ""
    try:
        outcome = call_terminate(call_connection_id=call.call_connection_id, reason=END_REASON)
    except (acs_client.AcsNotConfigured, acs_client.AcsRequestFailed) as exc:
        logger.warning("session %s: call %s not hung up: %s", session.session_id, call.pk, exc)
        return False, str(exc)
    return not outcome.already_ended, ""
