"""The OpenAPI schema and the server agree: declared errors, empty and repeated query
parameters, JSON types in bodies, blank enums in answers."""

from __future__ import annotations

import pytest

from tests.calls.factories import make_call

pytestmark = pytest.mark.django_db

OWN_ERROR_BODIES = {  # health answers describe the failing dependency in their own shape
    ("/api/v1/readiness", "get", "503"),
    ("/api/v1/tts/dedicated/health", "get", "503"),
    ("/api/v1/tts/dedicated/status", "get", "503"),
}


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_error_an_operation_declares_has_the_shared_error_body(schema):
    for path, method, operation in _operations(schema):
        for code, response in operation["responses"].items():
            if int(code) < 400 or (path, method, code) in OWN_ERROR_BODIES:
                continue
            body = response["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/Error"}, (path, method, code)
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"error", "detail"}


def test_errors_follow_from_how_each_view_is_built(schema):
    paths = schema["paths"]
    assert set(paths["/api/v1/calls/"]["get"]["responses"]) == {"200", "400", "401", "404"}
    for action in ("initiate", "terminate"):
        assert "503" in paths[f"/api/v1/calls/{action}"]["post"]["responses"]
    assert "429" in paths["/api/v1/agent-builder/create"]["post"]["responses"]
    assert "429" not in paths["/api/v1/agent-builder/session/{session_id}"]["get"]["responses"]
    assert "401" in paths["/api/v1/auth/token"]["post"]["responses"]
    assert set(paths["/api/v1/health"]["get"]["responses"]) == {"200"}
    for _, method, operation in _operations(schema):
        if "requestBody" in operation:
            assert list(operation["requestBody"]["content"]) == ["application/json"]
            assert {"400", "413", "415"} <= set(operation["responses"]), method


def test_a_call_never_recorded_answers_the_blank_recording_state_the_schema_allows(
    auth_client, schema
):
    make_call()
    call = auth_client.get("/api/v1/calls/").json()["calls"][0]
    assert call["recording_state"] == ""
    allowed = schema["components"]["schemas"]["Call"]["properties"]["recording_state"]["oneOf"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in allowed


@pytest.mark.parametrize(
    "query, field",
    [
        ("status_filter=", "status_filter"),
        ("status_filter=nope", "status_filter"),
        ("page=1&page=2", "page"),
        ("limit=", "limit"),
    ],
)
def test_an_empty_wrong_or_repeated_query_parameter_is_a_400_naming_it(auth_client, query, field):
    response = auth_client.get(f"/api/v1/calls/?{query}")
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/agent-builder/voices?category=nope", "category"),
        ("/api/v1/agents?include_state=7", "include_state"),
        ("/api/v1/metrics/sessions?status=", "status"),
    ],
)
def test_query_parameters_are_validated_against_their_schema(auth_client, path, field):
    response = auth_client.get(path)
    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"prompt": 1234567890123}, "prompt"),
        ({"model": {"max_tokens": 0}}, "model"),
        ({"model": {"temperature": "0.5"}}, "model"),
        ({"tools": [5]}, "tools"),
    ],
)
def test_agent_builder_create_refuses_what_its_schema_rules_out(auth_client, change, field):
    body = {"name": "Helper", "prompt": "You are a helpful assistant.", **change}
    response = auth_client.post("/api/v1/agent-builder/create", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_agent_builder_create_still_takes_a_valid_agent(auth_client):
    body = {
        "name": "Helper",
        "prompt": "You are a helpful assistant.",
        "model": {"max_tokens": 256, "temperature": 0.4},
        "tools": [],
    }
    response = auth_client.post("/api/v1/agent-builder/create", body, format="json")
    assert response.status_code == 201, response.json()
