import os

import pytest
from channels.layers import channel_layers

pytestmark = pytest.mark.django_db(transaction=True)


def _checks(body: dict) -> dict:
    return {c["component"]: c for c in body["checks"]}


def test_health_is_open_and_shaped_like_the_original(api_client):
    response = api_client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"]
    assert body["timestamp"]
    assert body["details"]["api_version"] == "v1"


def test_readiness_checks_every_dependency_with_timings(api_client):
    response = api_client.get("/api/v1/readiness")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] in {"ready", "degraded"}
    checks = _checks(body)
    assert {"database", "cache", "channel_layer"} <= set(checks)
    for check in checks.values():
        assert check["check_time_ms"] >= 0
    assert checks["database"]["status"] == "healthy"
    assert checks["channel_layer"]["details"]["roundtrip"] is True


@pytest.mark.services
def test_readiness_uses_the_real_postgresql_when_configured(api_client):
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("DATABASE_URL is not set (CI runs this against PostgreSQL)")
    checks = _checks(api_client.get("/api/v1/readiness").json())
    assert checks["database"]["details"]["vendor"] == "postgresql"


@pytest.mark.services
def test_readiness_round_trips_through_redis(api_client, redis_url):
    body = api_client.get("/api/v1/readiness").json()
    checks = _checks(body)
    assert body["status"] == "ready", body
    assert checks["channel_layer"]["details"]["backend"] == "RedisChannelLayer"
    assert checks["cache"]["details"]["backend"] == "RedisCache"
    assert checks["celery_broker"]["status"] == "healthy"


def test_readiness_names_a_stopped_redis(api_client, settings):
    closed = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.REDIS_TIMEOUT_S = 1.0
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [closed]},
        }
    }
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": closed,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    channel_layers.backends.clear()
    try:
        response = api_client.get("/api/v1/readiness")
    finally:
        channel_layers.backends.clear()
    body = response.json()
    # Degraded, not unhealthy: the process's live calls go on; new ones go elsewhere (503).
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["down"] == ["redis"]
    assert body["reason"].startswith("redis is down; ")
    checks = _checks(body)
    for component in ("cache", "channel_layer"):
        assert checks[component]["status"] == "unhealthy"
        assert checks[component]["dependency"] == "redis"
        assert checks[component]["error"]
    assert checks["database"]["status"] == "healthy"


def test_readiness_reports_each_configured_speech_provider(api_client):
    checks = _checks(api_client.get("/api/v1/readiness").json())
    for kind in ("stt", "tts", "llm", "vad"):
        assert checks[f"speech_{kind}"]["status"] == "healthy", checks[f"speech_{kind}"]
    assert checks["speech_llm"]["details"]["backend"].endswith("RulesDialogueEngine")


def test_readiness_is_unhealthy_when_a_provider_lacks_its_credentials(api_client, settings):
    settings.SPEECH_PROVIDERS = {
        **settings.SPEECH_PROVIDERS,
        "tts": {"BACKEND": "media.providers.azure_speech.AzureTTS", "OPTIONS": {}},
    }
    response = api_client.get("/api/v1/readiness")
    checks = _checks(response.json())
    assert response.status_code == 503
    assert checks["speech_tts"]["status"] == "unhealthy"
    assert "AZURE_SPEECH" in checks["speech_tts"]["error"]


def _stalled_loop(monkeypatch, lag_ms: float):
    """A process whose serving loop was held `lag_ms` once in the last minute."""
    import time

    from metrics import loop_lag

    monitor = loop_lag.LoopLagMonitor()
    now = time.monotonic()
    for i in range(100):
        monitor.record(1.0, monotonic_s=now, wall_s=1000 + i * 0.02)
    monitor.record(lag_ms, monotonic_s=now, wall_s=1003)
    monkeypatch.setattr(loop_lag, "_monitor", monitor)


def test_readiness_reports_the_event_loop_lag(api_client, monkeypatch):
    _stalled_loop(monkeypatch, 30.0)
    loop = _checks(api_client.get("/api/v1/readiness").json())["event_loop"]
    assert loop["status"] == "healthy"
    details = loop["details"]
    assert details["ticks"] == 101 and details["max_ms"] == 30.0
    assert details["p50_ms"] == 1.0 and details["p99_ms"] is not None
    assert details["saturated"] is False and details["status"] == "ok"


def test_a_saturated_event_loop_makes_the_process_unready(api_client, monkeypatch, settings):
    from metrics.checks import Check, check_event_loop

    # The event loop alone decides here: other dependencies have their own tests.
    checks = [Check("event_loop", check_event_loop)]
    monkeypatch.setattr("metrics.selectors.registered_checks", lambda: checks)
    _stalled_loop(monkeypatch, 2000.0)
    settings.LOOP_LAG_READY_MS = 100
    response = api_client.get("/api/v1/readiness")
    assert response.status_code == 503
    loop = _checks(response.json())["event_loop"]
    assert loop["status"] == "unhealthy" and "LOOP_LAG_READY_MS" in loop["error"]
    assert loop["details"]["saturated"] is True and loop["details"]["max_ms"] == 2000.0

    settings.LOOP_LAG_READY_MS = 0  # reported, never unready
    response = api_client.get("/api/v1/readiness")
    loop = _checks(response.json())["event_loop"]
    assert response.status_code == 200 and loop["status"] == "healthy"
    assert loop["details"]["max_ms"] == 2000.0


async def test_readiness_leaves_the_sockets_receiving_on_the_redis_layer(
    api_client, staff_user, redis_url, settings
):
    """Load balancers ask readiness every few seconds while calls are live: its round trip
    through Redis must not take the channel layer from the consumers receiving on it."""
    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer

    from browser.protocol import status_envelope
    from tests.browser.conftest import open_socket

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": f"readiness-{os.getpid()}"},
        }
    }
    channel_layers.backends.clear()
    try:
        dashboard = await open_socket("/api/v1/browser/dashboard/relay", user=staff_user)
        hello = await dashboard.receive_json_from(timeout=2)
        assert hello["payload"]["event"] == "relay_connected"

        for _ in range(3):
            response = await database_sync_to_async(api_client.get)("/api/v1/readiness")
            assert _checks(response.json())["channel_layer"]["status"] == "healthy"

        envelope = status_envelope(session_id="after-readiness", message="still here")
        layer = get_channel_layer()
        await layer.group_send("dashboard.all", {"type": "relay.envelope", "envelope": envelope})
        assert (await dashboard.receive_json_from(timeout=2))["payload"]["message"] == "still here"
        await dashboard.disconnect()
    finally:
        channel_layers.backends.clear()
