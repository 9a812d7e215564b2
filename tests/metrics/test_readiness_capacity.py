"""Readiness turns away new calls while the process holds `READY_MAX_SESSIONS` conversations."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from metrics import live, loop_lag
from metrics.checks import Check, check_capacity
from tests.browser.conftest import fake_speech
from tests.browser.test_conversation_socket import connect, is_greeting

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["fake_speech"]  # the fixture, used by name


def _readiness(api_client) -> tuple[int, dict]:
    response = api_client.get("/api/v1/readiness")
    return response.status_code, response.json()


async def test_a_process_at_its_session_limit_is_unready_until_one_ends(
    fake_speech, api_client, settings, monkeypatch
):
    # Capacity alone decides here: the other dependencies have their own tests.
    monkeypatch.setattr(
        "metrics.selectors.registered_checks", lambda: [Check("capacity", check_capacity)]
    )
    # Sessions other tests left open in this process count too; this test adds its own.
    base = live.counts()["active"]
    settings.READY_MAX_SESSIONS = base + 2
    # The sockets start a loop-lag monitor on this test's loop; the one before comes back after,
    # so this test's start-up stalls do not make later readiness checks fail.
    monkeypatch.setattr(loop_lag, "_monitor", None)
    readiness = sync_to_async(_readiness)

    first = await connect()
    await first.until(is_greeting)
    status, body = await readiness(api_client)
    assert status == 200 and body["reason"] is None
    assert body["checks"][0]["details"]["sessions"] == base + 1

    second = await connect()
    await second.until(is_greeting)
    status, body = await readiness(api_client)
    assert status == 503 and body["status"] == "unhealthy"
    limit = base + 2
    assert body["reason"] == (
        f"capacity: CheckFailed: {limit} conversations open, READY_MAX_SESSIONS is {limit}"
    )

    await second.close()
    status, body = await readiness(api_client)
    assert status == 200 and body["checks"][0]["details"]["sessions"] == base + 1

    settings.READY_MAX_SESSIONS = 0  # no limit
    third = await connect()
    await third.until(is_greeting)
    status, _ = await readiness(api_client)
    assert status == 200
    await first.close()
    await third.close()
