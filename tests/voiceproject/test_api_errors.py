import pytest

pytestmark = pytest.mark.django_db


def test_unknown_route_is_a_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_wrong_method_is_a_json_405(api_client):
    response = api_client.delete("/api/v1/health")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_malformed_json_body_is_a_400_with_a_message(api_client):
    response = api_client.post(
        "/api/v1/auth/token", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "parse_error"
    assert "JSON" in body["detail"]


def test_missing_fields_name_the_field(api_client):
    response = api_client.post("/api/v1/auth/token", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["fields"]


def test_anonymous_request_to_a_protected_endpoint_is_401(api_client):
    response = api_client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_token_login_then_authenticated_call(api_client, user):
    response = api_client.post(
        "/api/v1/auth/token",
        {"username": "operator", "password": "a-long-passphrase"},
        format="json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/auth/me").json()["username"] == "operator"


def test_wrong_password_is_401(api_client, user):
    response = api_client.post(
        "/api/v1/auth/token", {"username": "operator", "password": "wrong"}, format="json"
    )
    assert response.status_code == 401


def test_server_errors_hide_the_stack_trace_when_debug_is_off(client, settings):
    settings.DEBUG = False
    response = client.get("/definitely/not/here")
    assert response.status_code == 404
    assert "Traceback" not in response.content.decode()
