import pytest

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/v1/agents": {"get"},
    "/api/v1/agents/{name}": {"get", "put"},
    "/api/v1/agent-builder/tools": {"get"},
    "/api/v1/agent-builder/voices": {"get"},
    "/api/v1/agent-builder/defaults": {"get"},
    "/api/v1/agent-builder/templates": {"get"},
    "/api/v1/agent-builder/templates/{template_id}": {"get"},
    "/api/v1/agent-builder/create": {"post"},
    "/api/v1/agent-builder/session/{session_id}": {"get", "put", "delete"},
    "/api/v1/agent-builder/sessions": {"get"},
    "/api/v1/agent-builder/reload-agents": {"post"},
    "/api/v1/demo-env/temporary-user": {"get", "post"},
}


def test_every_endpoint_is_documented_with_its_bodies(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, methods in PATHS.items():
        assert path in schema["paths"], path
        for method in methods:
            operation = schema["paths"][path][method]
            responses = operation["responses"]
            ok = next(code for code in ("200", "201") if code in responses)
            assert "content" in responses[ok], (path, method)
            if method in ("put", "post") and path != "/api/v1/agent-builder/reload-agents":
                assert "requestBody" in operation, (path, method)
    demo = schema["components"]["schemas"]["DemoUserRequestRequest"]
    assert set(demo["required"]) == {"full_name", "email"}
