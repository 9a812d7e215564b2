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


OVERSIZED_JSON = '{"padding": "' + "x" * (3 * 1024 * 1024) + '"}'


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "path", ["/api/v1/auth/token", "/api/v1/calls/callbacks", "/api/v1/agent-builder/create"]
)
def test_a_body_over_the_upload_limit_is_a_json_413(api_client, settings, path, debug):
    settings.DEBUG = debug
    response = api_client.post(path, data=OVERSIZED_JSON, content_type="application/json")
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "request_too_large"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]


def test_a_form_body_is_refused_with_415_the_api_reads_json(api_client):
    # Form input reads an empty field as one left out, against the schema's lengths.
    response = api_client.post(
        "/api/v1/auth/token", {"username": "x", "password": "p"}, format="multipart"
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": 5, "password": "p"}, "username"),
        ({"target_number": "+14255550123", "record_call": "1"}, "record_call"),
        ({"target_number": "+14255550123", "context": {"record_call": "yes"}}, "context"),
    ],
)
def test_a_value_of_another_json_type_than_the_schema_gives_is_a_400(auth_client, body, field):
    path = "/api/v1/auth/token" if "username" in body else "/api/v1/calls/initiate"
    response = auth_client.post(path, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_route_is_the_json_404_with_debug_on_or_off(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/v1/no-such-thing", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "not_found"
    assert "/api/v1/no-such-thing" in body["detail"]


def test_a_missing_object_keeps_the_views_own_404(api_client, settings):
    settings.DEBUG = True
    response = api_client.get("/api/v1/agents/NoSuchAgent")
    assert response.status_code == 404
    assert "NoSuchAgent" in response.json()["detail"]


def test_an_api_path_missing_its_slash_still_redirects(client, settings):
    settings.DEBUG = True
    response = client.get("/api/docs")
    assert response.status_code == 301
    assert response["Location"] == "/api/docs/"
