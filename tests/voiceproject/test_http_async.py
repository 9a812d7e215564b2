"""Under ASGI a request reaches its view on the event loop: every middleware is async-capable,
and liveness is answered there without a worker thread or the database."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient


def test_the_middleware_chain_is_async_without_a_sync_adapter(caplog):
    # Django adapts a sync-only middleware with a thread hop, and logs it at DEBUG.
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler().load_middleware(is_async=True)
    assert [r.getMessage() for r in caplog.records if "adapted" in r.getMessage()] == []


async def test_health_is_answered_on_the_loop_without_the_database(monkeypatch):
    # No database access is allowed in this test (no django_db mark): any query would fail.
    from metrics import selectors

    answered_on = []
    report = selectors.health_report

    def recording_report():
        answered_on.append(threading.current_thread())
        return report()

    monkeypatch.setattr(selectors, "health_report", recording_report)
    client = AsyncClient()  # Django's async request path, as under ASGI
    for path in ("/api/v1/health", "/api/v1/tts/dedicated/status"):
        response = await client.get(path)
        assert response.status_code in (200, 503)
        assert response["Content-Type"] == "application/json"
    assert (await client.get("/api/v1/health")).json()["status"] == "healthy"
    assert answered_on == [threading.current_thread()] * 2


async def test_a_post_to_health_is_still_refused_on_the_loop():
    response = await AsyncClient().post("/api/v1/health", {}, content_type="application/json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.django_db(transaction=True)
async def test_static_files_and_api_errors_still_answer_in_the_async_chain(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    client = AsyncClient()
    static = await client.get("/static/js/conversation.js")
    assert static.status_code == 200
    assert b"".join(static.streaming_content)
    missing = await client.get("/api/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    body = '{"username": "' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}'
    too_big = await client.post("/api/v1/auth/token", body, content_type="application/json")
    assert too_big.status_code == 413


async def test_probes_are_answered_by_the_asgi_app_before_the_middleware_chain():
    from voiceproject.asgi import serve

    foreign_host = [(b"host", b"10.0.0.7:8000")]  # a load balancer probing the pod's address
    probe = HttpCommunicator(serve, "GET", "/api/v1/health", headers=foreign_host)
    response = await probe.get_response(timeout=10)
    assert response["status"] == 200
    assert int(dict(response["headers"])[b"Content-Length"]) == len(response["body"])
    assert json.loads(response["body"])["status"] == "healthy"
    # Anything else goes through the chain, whose host check refuses that address.
    other = HttpCommunicator(serve, "GET", "/api/v1/browser/status", headers=foreign_host)
    assert (await other.get_response(timeout=10))["status"] == 400
