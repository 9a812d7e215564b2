"""Redis and PostgreSQL stopped under a live call, then restarted: the call goes on.

The servers are this test's own (`testing.outages`): a `redis-server` and a PostgreSQL
cluster on free ports, really stopped and started again under a daphne server holding a
browser conversation over its socket. While one is down, the conversation still answers
each turn and readiness answers 503 `degraded` naming it; once it is back, readiness answers
200 again without a server restart, the groups the socket had joined work again (an end
request reaches it through Redis), and the turns spoken while the database was down are in
the database.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid

import pytest

from testing.outages import Conversation, OutageStack, missing_binaries
from tests.conftest import REQUIRE_SERVICES

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        why = f"private Redis and PostgreSQL servers need {', '.join(missing)}"
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {why}")
        pytest.skip(why)
    stack = OutageStack.start(tmp_path_factory.mktemp("outages"))
    yield stack
    stack.close()


def end_session(base_url: str, session_id: str, token: str) -> tuple[int, dict]:
    """DELETE /api/v1/sessions/{id} as the anonymous visitor who started it."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/sessions/{session_id}",
        method="DELETE",
        headers={"X-Session-Token": token},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_call_goes_on_through_redis_and_database_outages(outage_stack):
    stack = outage_stack
    try:
        asyncio.run(_scenario(stack))
    except BaseException:
        print(stack.log(20000))
        raise


async def _scenario(stack: OutageStack) -> None:
    ready = asyncio.to_thread
    session_id = f"outage_{uuid.uuid4().hex[:10]}"
    call = await Conversation.open(stack.url, session_id)
    first = await call.turn()
    assert first["user_text"] and first["assistant_text"]

    # Redis stops mid-call: the next turn is answered all the same; readiness names Redis.
    stack.redis.stop()
    _, body = await ready(stack.wait_readiness, status=503)
    assert body["status"] == "degraded" and body["down"] == ["redis"], body
    assert body["reason"].startswith("redis is down")
    during_redis = await call.turn()
    assert during_redis["assistant_text"]

    # Redis is back, empty: readiness recovers without a restart, and the socket is in its
    # control group again (an end request reaches it below).
    await ready(stack.redis.start)
    _, body = await ready(stack.wait_readiness, status=200)
    assert body["status"] == "ready" and body["down"] == []
    await call.turn()

    # PostgreSQL stops mid-call: turns go on, kept by the writer; readiness names the database.
    await ready(stack.wait_stored, session_id, 3)
    await ready(stack.postgres.stop)
    _, body = await ready(stack.wait_readiness, status=503)
    assert body["status"] == "degraded" and body["down"] == ["database"], body
    for _ in range(2):
        assert (await call.turn())["assistant_text"]
    assert not call.caller.closed.is_set()

    # The database is back: readiness recovers, the two turns spoken meanwhile are stored.
    await ready(stack.postgres.start)
    _, body = await ready(stack.wait_readiness, status=200)
    assert body["down"] == []
    await ready(stack.wait_stored, session_id, 5)
    turns = await ready(stack.stored_turns, session_id)
    spoken = [index for index, user_text in turns if user_text]
    assert spoken == sorted(spoken) and len(spoken) == 5  # in order, none lost
    assert len(call.answered_turns()) == 5

    # The end request travels through the restarted Redis to the socket's control group.
    status, ended = await ready(end_session, stack.url, session_id, call.caller.session_token)
    assert status == 200, ended
    assert ended["was_live"] is True and ended["status"] == "completed"
    async with asyncio.timeout(10):
        await call.caller.closed.wait()
    await call.hang_up()
