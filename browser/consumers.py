"""Browser WebSocket consumers: the conversation socket and the dashboard relay.

Both are transports only. The conversation consumer hands microphone frames and typed text to a
`media.conversation.Conversation` and writes what it emits back as the original accelerator's
messages (`browser.protocol`); the conversation itself broadcasts every event to the
channel-layer groups ``session.<session_id>`` and ``dashboard.all``, which the relay consumer
forwards to dashboards, on whichever server process they are connected to.

Sign-in rules (documented in docs/browser-protocol.md):
- conversation: a signed-in user; anonymous visitors too when `settings.DEBUG` is on (the local
  `make run` default) or `BROWSER_ALLOW_ANONYMOUS` is set. Only a session's creator resumes it
  (`browser.selectors.SessionAccess`): its signed-in owner, or the anonymous visitor presenting
  the `session_token` they were given when their first socket claimed the id. Anyone else, and
  anyone on a phone call's session nobody owns, is refused (close code 4403).
- dashboard relay: one session for staff or its creator (a phone call's: staff and its owner);
  all sessions for staff only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from browser import connections
from browser.protocol import (
    BROWSER_AUDIO_SAMPLE_RATE_HZ,
    encode_audio_frame_event,
    encode_messages,
    error_message,
    exit_envelope,
    status_envelope,
)
from browser.relay import DASHBOARD_GROUP, session_group
from browser.selectors import session_access
from browser.services import new_session_id, session_claim
from media.conversation.control import ConversationHostMixin, EndableConversationMixin
from media.engine.events import AudioFrame, CallEnd, Event
from media.modes import BROWSER_MODES, StreamMode
from voiceproject.sockets import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NORMAL,
    CLOSE_START_FAILED,
    CLOSE_UNAUTHORIZED,
    scope_query,
    scope_trace_headers,
)

logger = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,80}$")
MAX_AUDIO_FRAME_BYTES = 64_000  # 2 s of 16 kHz PCM16; the page sends 640-byte frames
MAX_TEXT_FRAME_CHARS = 8_000
MAX_TYPED_MESSAGE_CHARS = 2_000


def anonymous_allowed() -> bool:
    return bool(settings.BROWSER_ALLOW_ANONYMOUS)


def _user(scope: dict):
    user = scope.get("user")
    return user if user is not None and user.is_authenticated else None


REFUSAL_CODES = {
    CLOSE_BAD_REQUEST: "bad_request",
    CLOSE_UNAUTHORIZED: "sign_in_required",
    CLOSE_FORBIDDEN: "forbidden",
    CLOSE_START_FAILED: "start_failed",
}


class RefusingConsumer(AsyncWebsocketConsumer):
    session_id: str = ""

    async def _refuse(self, close_code: int, reason: str) -> None:
        """Close an accepted socket, saying why first: an `error` message with the reason and
        the close code (daphne passes the close code on but drops the close reason)."""
        logger.info("session %s: socket refused (%s): %s", self.session_id, close_code, reason)
        message = error_message(
            code=REFUSAL_CODES.get(close_code, "refused"),
            message=reason,
            session_id=self.session_id,
            close_code=close_code,
        )
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.send(text_data=json.dumps(message))
        await self.close(code=close_code, reason=reason[:120])


class ConversationConsumer(ConversationHostMixin, EndableConversationMixin, RefusingConsumer):
    """One browser conversation: microphone in, agent audio and transcript out.

    `DELETE /api/v1/sessions/{id}` ends it from outside (`media.conversation.control`): the
    client gets `exit` and the socket closes with 1000.
    """

    conversation = None
    session_id: str = ""
    counted = False

    async def connect(self) -> None:
        query = scope_query(self.scope)
        user = _user(self.scope)
        # Accept first so that every refusal reaches the client as a close code with a reason.
        await self.accept()
        if user is None and not anonymous_allowed():
            await self._refuse(CLOSE_UNAUTHORIZED, "Sign in to start a conversation.")
            return
        mode = (query.get("streaming_mode") or StreamMode.REALTIME).lower()  # as documented
        if mode not in BROWSER_MODES:
            await self._refuse(
                CLOSE_BAD_REQUEST,
                f"streaming_mode must be one of {', '.join(BROWSER_MODES)}",
            )
            return
        session_id = query.get("session_id") or new_session_id()
        if not SESSION_ID_RE.match(session_id):
            await self._refuse(
                CLOSE_BAD_REQUEST,
                "session_id must be 1-80 letters, digits, '_', '-' or '.'",
            )
            return
        user_email = query.get("user_email") or None
        if user_email:
            try:
                validate_email(user_email)
            except ValidationError:
                await self._refuse(CLOSE_BAD_REQUEST, "user_email is not an email")
                return
        access = await database_sync_to_async(session_access)(
            session_id, token=query.get("session_token", "")
        )
        if not access.is_creator(user):
            await self._refuse(CLOSE_FORBIDDEN, access.refusal(user))
            return
        session_token = ""
        if access.is_new:
            claimed = await database_sync_to_async(session_claim)(session_id=session_id, user=user)
            if claimed is None:
                await self._refuse(CLOSE_FORBIDDEN, "Another client has just started this session.")
                return
            session_token = claimed

        self.session_id = session_id
        self.user_id = user.pk if user else None
        self.streaming_mode = mode
        self.muted = False
        connections.opened(connections.CONVERSATION, session_id=session_id)
        self.counted = True
        await self._send_json(
            status_envelope(
                session_id=session_id,
                message="Connected",
                user_id=self.user_id,
                extra={
                    "event": "session_started",
                    "streaming_mode": mode,
                    "audio_sample_rate": BROWSER_AUDIO_SAMPLE_RATE_HZ,
                    # Only to the anonymous visitor who has just claimed the session, once.
                    **({"session_token": session_token} if session_token else {}),
                },
            )
        )
        from media.conversation import Conversation, ConversationStartError

        try:
            self.conversation = await Conversation.open(
                session_id=session_id,
                transport="browser",
                emit=self._emit,
                output_sample_rate_hz=BROWSER_AUDIO_SAMPLE_RATE_HZ,
                streaming_mode=mode,
                user_id=self.user_id,
                user_email=user_email,
                trace_headers=scope_trace_headers(self.scope),
            )
        except ConversationStartError as exc:
            logger.warning("session %s: conversation could not start: %s", session_id, exc)
            await self._send_json(
                status_envelope(
                    session_id=session_id, message=f"Could not start: {exc}", tone="error"
                )
            )
            await self._refuse(CLOSE_START_FAILED, str(exc)[:120])
            return
        # `agent_ready` before anything else can be sent: the greeting's audio is on its way.
        await self._send_json(
            status_envelope(
                session_id=session_id,
                message="Agent ready",
                user_id=self.user_id,
                extra={
                    "event": "agent_ready",
                    "active_agent": self.conversation.active_agent,
                    "resumed": self.conversation.resumed,
                },
            )
        )
        await self.control_join()
        logger.info(
            "session %s: browser conversation open (mode %s, resumed %s)",
            session_id,
            mode,
            self.conversation.resumed,
        )

    async def disconnect(self, code: int) -> None:
        await self.control_leave()
        await self._close_conversation()
        self._uncount()

    def abandon_hosted(self) -> None:
        """Besides the conversation (cancelled before `disconnect` ran), the live count."""
        super().abandon_hosted()
        self._uncount()

    def _uncount(self) -> None:
        if self.counted:
            connections.closed(connections.CONVERSATION, session_id=self.session_id)
            self.counted = False

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation is None:
            return
        if bytes_data is not None:
            self._receive_audio(bytes_data)
        elif text_data is not None:
            await self._receive_text(text_data)

    # --- input ----------------------------------------------------------------------------

    def _receive_audio(self, pcm: bytes) -> None:
        if not pcm:
            return
        if len(pcm) > MAX_AUDIO_FRAME_BYTES or len(pcm) % 2:
            reason = "too large" if len(pcm) > MAX_AUDIO_FRAME_BYTES else "an odd number of bytes"
            self._error_soon(
                "bad_audio_frame",
                f"Audio frame of {len(pcm)} bytes is {reason}: send PCM16 mono 16 kHz, "
                f"at most {MAX_AUDIO_FRAME_BYTES} bytes per message.",
            )
            return
        if self.muted:
            # Silence rather than nothing keeps end-of-turn detection running while muted.
            pcm = bytes(len(pcm))
        self.conversation.push_audio(pcm, BROWSER_AUDIO_SAMPLE_RATE_HZ)

    async def _receive_text(self, text: str) -> None:
        if len(text) > MAX_TEXT_FRAME_CHARS:
            await self._error(
                "message_too_large",
                f"Text messages are limited to {MAX_TEXT_FRAME_CHARS} characters.",
            )
            return
        stripped = text.strip()
        if not stripped:
            await self._error("empty_message", "Empty text message ignored.")
            return
        if stripped[0] != "{":
            await self._typed(stripped)
            return
        try:
            control = json.loads(stripped)
        except ValueError:
            await self._error("malformed_json", "Text starting with '{' must be a JSON object.")
            return
        if not isinstance(control, dict):
            await self._error("malformed_json", "Control messages are JSON objects.")
            return
        await self._control(control)

    async def _typed(self, text: str) -> None:
        if len(text) > MAX_TYPED_MESSAGE_CHARS:
            await self._error(
                "message_too_large",
                f"Typed messages are limited to {MAX_TYPED_MESSAGE_CHARS} characters.",
            )
            return
        await self.conversation.send_text(text)

    async def _control(self, control: dict[str, Any]) -> None:
        kind = str(control.get("type") or control.get("kind") or "").strip().lower()
        if kind in ("text", "user_message", "message"):
            text = control.get("text") or control.get("message") or control.get("content")
            if not isinstance(text, str) or not text.strip():
                await self._error("bad_control", f"'{kind}' needs a non-empty 'text'.")
                return
            await self._typed(text.strip())
        elif kind in ("stop", "interrupt", "stopaudio"):
            await self.conversation.interrupt(reason="client_stop")
        elif kind in ("mute", "unmute"):
            self.muted = kind == "mute"
            await self._send_json(
                status_envelope(
                    session_id=self.session_id,
                    message="Microphone muted" if self.muted else "Microphone on",
                    extra={"event": kind, "muted": self.muted},
                )
            )
        elif kind == "dtmf":
            digits = control.get("digits")
            if not isinstance(digits, str) or not re.fullmatch(r"[0-9*#A-Da-d]{1,32}", digits):
                await self._error("bad_control", "'dtmf' needs 'digits' of 0-9, *, # or A-D.")
                return
            self.conversation.push_dtmf(digits)
        elif kind == "ping":
            await self._send_json({"type": "pong", "session_id": self.session_id})
        elif kind in ("end", "hangup", "end_session"):
            await self._send_json(exit_envelope(session_id=self.session_id))
            await self.close(code=CLOSE_NORMAL)
        else:
            await self._error(
                "unknown_control",
                f"Unknown control message type {kind!r}: use text, stop, mute, unmute, dtmf, "
                "ping or end.",
            )

    # --- output ---------------------------------------------------------------------------

    async def _emit(self, event: Event) -> None:
        """The conversation's sender: every engine event, in order, on the loop."""
        try:
            if isinstance(event, AudioFrame):
                await self.send(text_data=encode_audio_frame_event(event))
                return
            for message in encode_messages(event, session_id=self.session_id, user_id=self.user_id):
                await self.send(text_data=json.dumps(message, default=str))
        except Exception:  # a closing socket must not break the session's event loop
            logger.debug("session %s: send failed", self.session_id, exc_info=True)
        if type(event) is CallEnd:  # its `exit` envelope went out above
            await self._agent_ended(event)

    async def _agent_ended(self, event: CallEnd) -> None:
        """The agent ended the conversation and its farewell was heard: store the session as
        completed, then close the socket with 1000."""
        logger.info(
            "session %s: the agent ended the conversation (%s)", self.session_id, event.reason
        )
        await self._close_conversation()
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.close(code=CLOSE_NORMAL)

    async def end_conversation(self, reason: str) -> None:
        """Ended from outside (the sessions API): `exit`, the session stored, close 1000."""
        logger.info("session %s: conversation ended from outside (%s)", self.session_id, reason)
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send_json(
                exit_envelope(
                    session_id=self.session_id, message="The session was ended.", reason=reason
                )
            )
        await self.control_leave()
        await self._close_conversation()
        with contextlib.suppress(Exception):
            await self.close(code=CLOSE_NORMAL)

    async def _close_conversation(self) -> None:
        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            try:
                await conversation.close()
            except Exception:  # the socket is gone either way; the glue logs its own failures
                logger.exception("session %s: closing the conversation failed", self.session_id)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, default=str))

    async def _error(self, code: str, message: str) -> None:
        logger.info("session %s: bad input (%s): %s", self.session_id, code, message)
        await self._send_json(error_message(code=code, message=message, session_id=self.session_id))

    def _error_soon(self, code: str, message: str) -> None:
        asyncio.get_running_loop().create_task(self._error(code, message))


class DashboardRelayConsumer(RefusingConsumer):
    """Forwards every envelope broadcast for one session (or all sessions, staff only)."""

    group_name: str = ""
    counted = False

    async def connect(self) -> None:
        query = scope_query(self.scope)
        user = _user(self.scope)
        session_id = query.get("session_id") or ""
        await self.accept()
        if session_id:
            if not SESSION_ID_RE.match(session_id):
                await self._refuse(CLOSE_BAD_REQUEST, "session_id is malformed")
                return
            access = await database_sync_to_async(session_access)(
                session_id, token=query.get("session_token", "")
            )
            allowed = access.may_watch(user) and (user is not None or anonymous_allowed())
            if not allowed:
                code = CLOSE_UNAUTHORIZED if user is None else CLOSE_FORBIDDEN
                reason = (
                    "Only staff and the call's owner may watch a phone call."
                    if access.phone_call
                    else "You may not watch this session."
                )
                await self._refuse(code, reason)
                return
            self.group_name = session_group(session_id)
        else:
            if user is None:
                await self._refuse(CLOSE_UNAUTHORIZED, "Sign in to watch sessions.")
                return
            if not user.is_staff:
                await self._refuse(CLOSE_FORBIDDEN, "Only staff may watch all sessions.")
                return
            self.group_name = DASHBOARD_GROUP
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        connections.opened(connections.DASHBOARD)
        self.counted = True
        await self.send(
            text_data=json.dumps(
                status_envelope(
                    session_id=session_id,
                    message="Dashboard relay connected",
                    extra={"event": "relay_connected", "scope": session_id or "all"},
                )
            )
        )

    async def disconnect(self, code: int) -> None:
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        if self.counted:
            connections.closed(connections.DASHBOARD)
            self.counted = False

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Dashboards only listen; a ping gets a pong so clients can check the socket is alive.
        if text_data and '"ping"' in text_data:
            await self.send(text_data=json.dumps({"type": "pong"}))

    async def relay_envelope(self, message: dict[str, Any]) -> None:
        envelope = message.get("envelope")
        if isinstance(envelope, dict):
            await self.send(text_data=json.dumps(envelope, default=str))
