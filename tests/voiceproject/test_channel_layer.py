"""The channel layer through a Redis outage: the sockets on it keep their conversations.

Redis here is a port nothing listens on, as after a crash; `tests/deploy/test_outages.py`
stops and restarts a real Redis server under a live conversation.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.layers import channel_layers, get_channel_layer

from metrics import loop_lag
from metrics.models import Turn
from tests.browser.conftest import fake_speech
from tests.browser.test_conversation_socket import connect, is_answer, is_greeting

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["fake_speech"]  # the fixture, used by name

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def is_metrics(m):
    return m.get("type") == "turn_metrics"


def of_turn(m, turn_id: int) -> bool:
    return m["payload"].get("turn_id") == turn_id


@pytest.fixture
def redis_down(settings, monkeypatch):
    # The sockets start a loop-lag monitor on this test's loop; the one before comes back after,
    # so this test's start-up stalls do not make later readiness checks fail.
    monkeypatch.setattr(loop_lag, "_monitor", None)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "voiceproject.channel_layer.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": UNREACHABLE, "socket_connect_timeout": 1}]},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_a_conversation_goes_on_while_redis_is_unreachable(fake_speech, redis_down, caplog):
    client = await connect("?session_id=redis-down-1")
    await client.until(is_greeting)
    # The socket's channel receive has met the outage by now: it waits, the socket stays.
    await asyncio.sleep(0.5)
    for turn_id in (2, 3):  # the greeting is turn 1
        await client.send(text_data="What can you help me with?")
        answer = await client.until(lambda m, t=turn_id: is_answer(m) and of_turn(m, t))
        assert answer["payload"]["message"]
        await client.until(lambda m, t=turn_id: is_metrics(m) and of_turn(m, t))
    await client.close()

    turns = Turn.objects.filter(session__session_id="redis-down-1").exclude(user_text="")
    assert await turns.acount() == 2
    assert "Redis is unreachable" in caplog.text
    layer = get_channel_layer()
    assert layer.redis_down and layer.dropped > 0  # the dashboard relay's messages


async def test_group_operations_do_not_raise_while_redis_is_unreachable(redis_down, caplog):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    with caplog.at_level(logging.ERROR, logger="voiceproject.channel_layer"):
        await layer.group_add("control.somebody", channel)
        await layer.group_send("control.somebody", {"type": "conversation.end"})
        await layer.group_discard("control.somebody", channel)
    assert layer.redis_down and layer.dropped == 1
    assert caplog.text.count("Redis is unreachable") == 1  # once per outage
    # A receive waits for Redis instead of failing.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 1.0)


async def test_round_trips_on_layers_of_their_own_leave_nothing_on_the_serving_loop(redis_url):
    """Readiness and end requests take a layer of their own per round trip: the serving loop
    keeps no wrapper and no connection of theirs, however many there were."""
    from voiceproject.channel_layer import own_layer

    loop = asyncio.get_running_loop()
    close_before = loop.close
    layers = []
    for _ in range(30):
        async with own_layer() as layer:
            channel = await layer.new_channel("roundtrip.")
            await layer.send(channel, {"type": "ping"})
            assert (await layer.receive(channel))["type"] == "ping"
        layers.append(layer)

    assert loop.close == close_before  # channels-redis wraps it when a layer connects itself
    assert all(not layer._layers for layer in layers)
