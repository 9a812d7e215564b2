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


def test_readiness_reports_a_stopped_redis_as_down(api_client, settings):
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
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    checks = _checks(body)
    for component in ("cache", "channel_layer"):
        assert checks[component]["status"] == "unhealthy"
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
