"""The pages render, link their scripts, and ask for sign-in where the API needs it."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

SIGNED_IN_PAGES = ["/dashboard/", "/calls/", "/agent-builder/"]


def test_conversation_page_open_to_visitors_when_anonymous_allowed(client, settings):
    settings.BROWSER_ALLOW_ANONYMOUS = True
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="start-btn"' in body and 'id="message-input"' in body
    assert "/static/js/conversation.js" in body
    assert "Speech cascade" in body and "Voice Live" in body


def test_conversation_page_needs_sign_in_otherwise(client, user, settings):
    settings.BROWSER_ALLOW_ANONYMOUS = False
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(user)
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_management_pages_need_sign_in(client, user, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    assert "Sign out" in response.content.decode()


def test_sign_in_with_the_login_page(client, user):
    page = client.get("/accounts/login/?next=/dashboard/")
    assert page.status_code == 200
    response = client.post(
        "/accounts/login/",
        {"username": "operator", "password": "a-long-passphrase", "next": "/dashboard/"},
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    wrong = client.post("/accounts/login/", {"username": "operator", "password": "nope"})
    assert "Wrong username or password" in wrong.content.decode()


def test_static_modules_are_served_locally():
    for name in [
        "js/conversation.js",
        "js/dashboard.js",
        "js/calls.js",
        "js/agent_builder.js",
        "js/chart.js",
        "js/transcript.js",
        "js/audio/capture-worklet.js",
        "js/audio/playback-worklet.js",
        "css/app.css",
    ]:
        path = finders.find(name)
        assert path, name
        with open(path, encoding="utf-8") as handle:
            assert "https://" not in handle.read(), f"{name} must not load anything remote"


def test_dashboard_charts_the_event_loop_lag(client, user):
    client.force_login(user)
    body = client.get("/dashboard/").content.decode()
    assert 'id="loop-lag-chart"' in body and "Event-loop lag" in body
    with open(finders.find("js/dashboard.js"), encoding="utf-8") as handle:
        assert "/api/v1/metrics/loop" in handle.read()
