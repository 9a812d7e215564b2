"""Rate limits count per client: X-Forwarded-For names the client only from TRUSTED_PROXIES."""

from __future__ import annotations

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db

DEMO = "/api/v1/demo-env/temporary-user"
BODY = {"full_name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture(autouse=True)
def one_write_an_hour(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "anon": "1/hour",
            "demo_create": "1/hour",
            "session_agent_write": "1/hour",
        },
    }
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "throttling-tests",
        },
    }
    cache.clear()


def create_demo(client, **headers) -> int:
    return client.post(DEMO, BODY, format="json", **headers).status_code


@pytest.mark.parametrize(
    "forwarded", ["203.0.113.7", "198.51.100.1, 203.0.113.9", "garbage", "127.0.0.1"]
)
def test_a_made_up_forwarded_for_does_not_escape_the_limit(api_client, forwarded):
    assert create_demo(api_client) == 201
    assert create_demo(api_client) == 429
    assert create_demo(api_client, HTTP_X_FORWARDED_FOR=forwarded) == 429


def test_every_anonymous_write_limit_ignores_an_untrusted_forwarded_for(api_client):
    agent = {"name": "Helper", "prompt": "Be brief.", "greeting": "Hi."}
    token = {"username": "nobody", "password": "wrong-password"}
    for method, path, body in [
        ("post", "/api/v1/agent-builder/create?session_id=throttle-1", agent),
        ("post", "/api/v1/auth/token", token),
    ]:
        send = getattr(api_client, method)
        assert send(path, body, format="json").status_code != 429
        spoofed = send(path, body, format="json", HTTP_X_FORWARDED_FOR="192.0.2.44")
        assert spoofed.status_code == 429, path


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(api_client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]  # the test client is 127.0.0.1
    first = {"HTTP_X_FORWARDED_FOR": "203.0.113.7, 10.1.2.3"}
    assert create_demo(api_client, **first) == 201
    assert create_demo(api_client, **first) == 429
    # What the client put in front of the address the proxy appended does not count.
    assert create_demo(api_client, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7") == 429
    assert create_demo(api_client, HTTP_X_FORWARDED_FOR="203.0.113.8") == 201


def test_a_forwarded_for_from_a_peer_outside_the_trusted_proxies_is_ignored(api_client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert create_demo(api_client, HTTP_X_FORWARDED_FOR="203.0.113.7") == 201
    assert create_demo(api_client, HTTP_X_FORWARDED_FOR="203.0.113.8") == 429
