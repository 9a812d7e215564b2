"""The channels-redis layer, made to ride out a Redis outage.

channels-redis raises when Redis cannot be reached, and channels runs every consumer's channel
receive in the same loop as its socket (`await_many_dispatch`): one failed receive would end
the consumer, and daphne would close its socket. A Redis restart would end every live call of
every process. This layer keeps the conversations going instead:

- `receive` waits through an outage: a connection error is logged once, and the receive is
  tried again after 0.25 s, then twice as long each time up to 2 s, until Redis answers.
- `group_add`, `group_discard` and `group_send` never raise a connection error: it is logged
  once per outage, and the messages sent to groups meanwhile (dashboard relay, end requests)
  are dropped and counted. What a conversation stores goes to the database, not here.
- A Redis restarted without its data has forgotten the groups. The layer remembers which of
  this process's channels joined which groups and joins them again once Redis answers, so
  dashboards and end requests reach the live conversations again without a server restart.
- `send` (point to point: readiness's round trip, replies) raises as before: its caller decides.

One instance per process (`get_channel_layer`); its state is only touched from event loops.
A round trip that must not share its receive state (readiness, an end request from sync code)
takes a layer of its own for the time it needs it: :func:`own_layer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import BaseChannelLayer, channel_layers
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from channels_redis.core import RedisLoopLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_RETRY_FIRST_S = 0.25
_RETRY_MAX_S = 2.0


class RedisChannelLayer(BaseRedisChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._memberships: dict[str, set[str]] = {}  # group -> this process's channels in it
        self._down_since: float | None = None
        self.dropped = 0  # group messages dropped while Redis was down (since start)
        self._dropped_in_outage = 0

    @property
    def redis_down(self) -> bool:
        return self._down_since is not None

    async def receive(self, channel: str) -> dict:
        delay_s = _RETRY_FIRST_S
        while True:
            try:
                return await super().receive(channel)
            except CONNECTION_ERRORS as exc:
                self._went_down(exc)
            # Wait until Redis answers again (restoring the groups), then receive again.
            while True:
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, _RETRY_MAX_S)
                try:
                    await self._recover()
                    break
                except CONNECTION_ERRORS:
                    continue

    async def group_add(self, group: str, channel: str) -> None:
        self._memberships.setdefault(group, set()).add(channel)
        await self._quietly(super().group_add, group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        members = self._memberships.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._memberships[group]
        await self._quietly(super().group_discard, group, channel)

    async def group_send(self, group: str, message: dict) -> None:
        if not await self._quietly(super().group_send, group, message):
            self.dropped += 1
            self._dropped_in_outage += 1

    async def _quietly(self, operation, *args) -> bool:
        """Run a group operation; False (logged once per outage) when Redis is unreachable."""
        try:
            await operation(*args)
        except CONNECTION_ERRORS as exc:
            self._went_down(exc)
            return False
        if self._down_since is not None:
            try:
                await self._recover()
            except CONNECTION_ERRORS as exc:
                self._went_down(exc)
        return True

    def _went_down(self, exc: BaseException) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self._dropped_in_outage = 0
        logger.error(
            "channel layer: Redis is unreachable (%s: %s); conversations go on, dashboard relay "
            "and end requests wait until it is back",
            type(exc).__name__,
            exc,
        )

    async def _recover(self) -> None:
        """Redis answers again: join this process's groups again (Redis may have restarted
        empty). Raises a connection error while it is still down."""
        if self._down_since is None:
            return
        memberships = [(g, c) for g, channels in self._memberships.items() for c in channels]
        if memberships:
            for group, channel in memberships:
                await super().group_add(group, channel)
        else:
            await self.connection(0).ping()
        if self._down_since is None:  # another receiver recovered meanwhile
            return
        down_s = time.monotonic() - self._down_since
        self._down_since = None
        logger.warning(
            "channel layer: Redis is back after %.1f s; %d group memberships restored, %d group "
            "messages dropped while it was down",
            down_s,
            len(memberships),
            self._dropped_in_outage,
        )


@contextlib.asynccontextmanager
async def own_layer() -> AsyncIterator[BaseChannelLayer]:
    """A channel layer of the caller's own, on the running loop, its connections closed after.

    channels-redis connects a layer to a loop the first time it is used there and wraps that
    loop's `close` to close the connection then: on the serving loop, one wrapper (and the layer
    it holds, ~3 KB) per round trip would pile up for the life of the process, and their chain
    would overflow the stack when the loop closes. The layer's connections on this loop are
    made here, without the wrapper, and closed when the block ends.
    """
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    if not isinstance(layer, BaseRedisChannelLayer):
        yield layer
        return
    loop = asyncio.get_running_loop()
    layer._layers[loop] = RedisLoopLayer(layer)
    try:
        yield layer
    finally:
        with contextlib.suppress(Exception):
            await layer.close_pools()
        layer._layers.pop(loop, None)
