"""Ending a live conversation from outside its socket, on whichever process holds it.

A consumer hosting a conversation (the browser conversation socket, the ACS media socket) joins
the channel-layer group `control.<session_id>` once its conversation is open.
:func:`conversation_end_request` sends that group `{"type": "conversation.end", ...}` with a
reply channel; the consumer stores the conversation (turns, state, the session closed), answers
on the reply channel and closes its socket. Through channels-redis this reaches a conversation
held by another server process.

channels-redis keeps one receive state per layer object (its lock, buffers and the event loop
receiving), and the process's shared layer belongs to the server's loop, in the main thread,
and its consumers. A request from sync code with no server loop (a WSGI view, Celery, a
management command) runs on a loop of its own in another thread: receiving there on the shared
layer would fail every consumer's receive meanwhile ("Two event loops are trying to receive()
on one channel layer at once"), so such a request receives its reply on a layer of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from channels.consumer import get_handler_name
from channels.layers import InMemoryChannelLayer, get_channel_layer

from browser.relay import group_name
from voiceproject.channel_layer import own_layer

logger = logging.getLogger(__name__)

END_MESSAGE_TYPE = "conversation.end"
ENDED_MESSAGE_TYPE = "conversation.ended"


def control_group(session_id: str) -> str:
    """Channel-layer group of the consumer hosting `session_id`'s conversation."""
    return group_name("control.", session_id)


async def conversation_end_request(*, session_id: str, reason: str, timeout_s: float) -> bool:
    """Ask the consumer hosting `session_id` to end its conversation; True once it has.

    False when no consumer answered within `timeout_s` (none is live, or the channel layer is
    down): the conversation is not running anywhere that could still write to it.
    """
    shared = get_channel_layer()
    if shared is None:
        return False
    # In memory, the process's layer is the only one its consumers listen to.
    own = (
        not isinstance(shared, InMemoryChannelLayer)
        and threading.current_thread() is not threading.main_thread()
    )
    try:
        async with own_layer() if own else contextlib.nullcontext(shared) as layer:
            async with asyncio.timeout(timeout_s):
                reply_channel = await layer.new_channel("conversation.ended.")
                await layer.group_send(
                    control_group(session_id),
                    {"type": END_MESSAGE_TYPE, "reason": reason, "reply_channel": reply_channel},
                )
                await layer.receive(reply_channel)
    except TimeoutError:
        return False
    except Exception:
        logger.exception("session %s: the end request could not be sent", session_id)
        return False
    logger.info("session %s: ended by its host (%s)", session_id, reason)
    return True


class ConversationHostMixin:
    """For consumers hosting a conversation: real-time dispatch, and what the process shares
    given back however the consumer ends.

    - Channels' dispatch closes stale database connections before every message: a hop to
      asgiref's one shared sync thread per message, 50 a second per call of audio, queued
      behind every other call's. Under load a socket's `websocket.disconnect` then waited
      there longer than the server's close timeout (daphne: 10 s). Nothing here uses the ORM
      on the loop (Django refuses it); every query goes through `database_sync_to_async`,
      which closes stale connections itself, so the hop is left out.
    - The server cancels a consumer that does not end within that timeout, wherever it is
      waiting, and `disconnect` may never run: `abandon_hosted` (sync) then gives back the
      conversation's TTS lease and closes it in a task of its own. Subclasses extend it with
      what else they registered.
    """

    conversation = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.abandon_hosted()

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    def abandon_hosted(self) -> None:
        """What the normal close did not get to; idempotent (nothing left after it)."""
        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            conversation.abandon()


class EndableConversationMixin:
    """For consumers hosting a conversation: join its control group, end it on request.

    The consumer implements `end_conversation(reason)`: store and close the conversation, then
    close the socket. The reply goes out once the conversation is stored, so the requester may
    then read (or erase) what it left.
    """

    session_id: str = ""
    control_group_name: str = ""

    async def control_join(self) -> None:
        if self.channel_layer is None:
            return
        self.control_group_name = control_group(self.session_id)
        await self.channel_layer.group_add(self.control_group_name, self.channel_name)

    async def control_leave(self) -> None:
        name, self.control_group_name = self.control_group_name, ""
        if name and self.channel_layer is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(name, self.channel_name)

    async def conversation_end(self, message: dict) -> None:
        """Channel-layer handler of `conversation.end`."""
        reason = str(message.get("reason") or "ended")[:200]
        try:
            await self.end_conversation(reason)
        finally:
            reply_channel = message.get("reply_channel")
            if reply_channel:
                with contextlib.suppress(Exception):
                    await self.channel_layer.send(reply_channel, {"type": ENDED_MESSAGE_TYPE})

    async def end_conversation(self, reason: str) -> None:
        raise NotImplementedError
