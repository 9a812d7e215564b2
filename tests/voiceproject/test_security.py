"""The production HTTPS redirect, and what load-balancer probes need exempted from it."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def ssl_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/readiness"])
def test_probes_answer_over_plain_http_when_https_is_enforced(client, ssl_redirect, path):
    response = client.get(path)
    assert response.status_code in (200, 503)
    assert "status" in response.json()


def test_other_plain_http_requests_are_redirected_to_https(client, ssl_redirect):
    response = client.get("/api/v1/agents")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
