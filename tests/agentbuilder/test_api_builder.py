import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agentbuilder.models import Agent, SessionAgent
from agentbuilder.selectors import roster_build

pytestmark = pytest.mark.django_db

AGENT = {
    "name": "Pirate",
    "description": "Talks like a pirate",
    "greeting": "Ahoy!",
    "prompt": "You are a pirate banker. Keep it short.",
    "tools": ["search_knowledge_base", "handoff_concierge"],
    "model": {"temperature": 0.9},
    "voice": {"name": "en_US-joe-medium"},
}


def test_tools_lists_registered_tools_then_handoffs(api_client, library):
    body = api_client.get("/api/v1/agent-builder/tools").json()
    assert body["status"] == "success" and body["total"] == len(body["tools"])
    flags = [t["is_handoff"] for t in body["tools"]]
    assert flags == sorted(flags)
    verify = next(t for t in body["tools"] if t["name"] == "verify_client_identity")
    assert verify["parameters"]["required"] == ["full_name", "ssn_last_4"]
    handoff = next(t for t in body["tools"] if t["name"] == "handoff_fraud_agent")
    assert handoff["is_handoff"] and handoff["target_agent"] == "FraudAgent"
    assert body["categories"]["fraud"] >= 5


def test_tools_filter_by_category_and_without_handoffs(api_client, library):
    body = api_client.get(
        "/api/v1/agent-builder/tools", {"category": "auth", "include_handoffs": "false"}
    ).json()
    assert {t["name"] for t in body["tools"]} == {
        "verify_client_identity",
        "send_mfa_code",
        "verify_mfa_code",
        "resend_mfa_code",
    }


def test_voices_include_azure_categories_and_local_voices(api_client):
    body = api_client.get("/api/v1/agent-builder/voices").json()
    assert body["default_voice"] == "en-US-AvaMultilingualNeural"
    assert set(body["by_category"]) >= {"turbo", "standard", "hd"}
    names = {v["name"] for v in body["voices"]}
    assert "en-US-AvaMultilingualNeural" in names
    local = api_client.get("/api/v1/agent-builder/voices", {"category": "local"}).json()
    assert all(v["category"] == "local" for v in local["voices"])


def test_defaults(api_client):
    body = api_client.get("/api/v1/agent-builder/defaults").json()
    assert body["defaults"]["model"]["temperature"] == 0.7
    assert "{{ institution_name }}" in body["prompt_template"]


def test_templates_list_and_detail(api_client, library):
    body = api_client.get("/api/v1/agent-builder/templates").json()
    assert body["total"] == 7
    assert body["templates"][0]["id"] == "concierge" and body["templates"][0]["is_entry_point"]
    detail = api_client.get("/api/v1/agent-builder/templates/fraud-agent").json()["template"]
    assert detail["name"] == "FraudAgent"
    assert detail["handoff"]["trigger"] == "handoff_fraud_agent"
    assert "block_card_emergency" in detail["tools"]
    assert api_client.get("/api/v1/agent-builder/templates/nope").status_code == 404


def test_create_get_update_delete_a_session_agent(auth_client, library):
    created = auth_client.post(
        "/api/v1/agent-builder/create?session_id=sess-builder", AGENT, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "created" and body["agent_name"] == "Pirate"
    assert body["config"]["handoff_trigger"] == "handoff_pirate"
    assert roster_build(session_id="sess-builder").entry_agent == "Pirate"

    got = auth_client.get("/api/v1/agent-builder/session/sess-builder").json()
    assert got["status"] == "active" and got["config"]["prompt_full"] == AGENT["prompt"]
    assert got["config"]["model"]["temperature"] == 0.9

    updated = auth_client.put(
        "/api/v1/agent-builder/session/sess-builder",
        {**AGENT, "name": "Captain", "greeting": "Welcome aboard."},
        format="json",
    )
    assert updated.status_code == 200 and updated.json()["status"] == "updated"
    assert roster_build(session_id="sess-builder").get("Captain").greeting == "Welcome aboard."

    sessions = auth_client.get("/api/v1/agent-builder/sessions").json()
    assert sessions["total"] == 1 and sessions["sessions"][0]["agent_name"] == "Captain"

    removed = auth_client.delete("/api/v1/agent-builder/session/sess-builder").json()
    assert removed["status"] == "removed"
    assert auth_client.delete("/api/v1/agent-builder/session/sess-builder").json()["status"] == (
        "not_found"
    )
    assert auth_client.get("/api/v1/agent-builder/session/sess-builder").status_code == 404
    assert roster_build(session_id="sess-builder").entry_agent == "Concierge"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tools": ["teleport"]}, "tools"),
        ({"tools": ["handoff_ghost"]}, "tools"),
        ({"prompt": "short"}, "prompt"),
        ({"prompt": "Hello {{ broken"}, "instructions"),
        ({"name": "no spaces allowed"}, "name"),
        ({"model": {"temperature": 3}}, "model"),
        ({"voice": {"rate": "loud"}}, "voice"),
    ],
)
def test_create_rejects_invalid_agents_naming_the_field(auth_client, library, change, field):
    response = auth_client.post(
        "/api/v1/agent-builder/create?session_id=sess-bad", {**AGENT, **change}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert not SessionAgent.objects.exists()


def test_create_rejects_a_bad_session_id(auth_client, library):
    response = auth_client.post("/api/v1/agent-builder/create?session_id=abc", AGENT, format="json")
    assert response.status_code == 400
    assert "session_id" in response.json()["fields"]


def test_anonymous_creation_is_rate_limited(api_client, library, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100/minute", "demo_create": "2/hour"},
    }
    codes = [
        api_client.post(
            f"/api/v1/agent-builder/create?session_id=anon-{i:03d}", AGENT, format="json"
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]


def test_only_the_owner_changes_a_signed_in_users_session_agent(auth_client, api_client, library):
    auth_client.post("/api/v1/agent-builder/create?session_id=sess-owned", AGENT, format="json")
    other = get_user_model().objects.create_user(username="other", password="a-long-passphrase")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    for client in (api_client, other_client):
        put = client.put("/api/v1/agent-builder/session/sess-owned", AGENT, format="json")
        assert put.status_code in (401, 403)
        assert client.delete("/api/v1/agent-builder/session/sess-owned").status_code in (401, 403)
    assert SessionAgent.objects.filter(session_id="sess-owned").exists()


def test_sessions_list_needs_authentication(api_client):
    assert api_client.get("/api/v1/agent-builder/sessions").status_code == 401


def test_reload_needs_authentication_and_reports(api_client, auth_client, db):
    assert api_client.post("/api/v1/agent-builder/reload-agents").status_code == 401
    first = auth_client.post("/api/v1/agent-builder/reload-agents").json()
    assert first["agent_count"] == 7 and len(first["created"]) == 7
    Agent.objects.filter(name="GeneralKB").update(greeting="Edited greeting.")
    second = auth_client.post("/api/v1/agent-builder/reload-agents").json()
    assert second["created"] == [] and second["updated"] == []
    assert second["skipped"] == [
        {"name": "GeneralKB", "reason": "edited since it was loaded (use --force)"}
    ]
    assert "1 skipped" in second["message"]
    assert Agent.objects.get(name="GeneralKB").greeting == "Edited greeting."
