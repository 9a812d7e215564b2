import pytest

from agentbuilder.models import Agent
from agentbuilder.services import library_load

pytestmark = pytest.mark.django_db


def test_agent_list_has_agents_handoff_map_start_agent_and_connections(api_client, library):
    body = api_client.get("/api/v1/agents").json()
    assert body["status"] == "success"
    assert body["agents_count"] == 7
    assert body["start_agent"] == "Concierge"
    assert body["handoff_map"]["handoff_fraud_agent"] == "FraudAgent"
    assert {"source": "Concierge", "tool": "handoff_fraud_agent", "target": "FraudAgent"} in body[
        "connections"
    ]
    concierge = next(a for a in body["agents"] if a["name"] == "Concierge")
    assert concierge["status"] == "loaded"
    assert concierge["voice"]["current_voice"] == "en-US-AvaMultilingualNeural"
    assert "handoff_fraud_agent" in concierge["handoff_tools"]
    assert concierge["tool_count"] == len(concierge["tools"])
    assert len(concierge["prompt_preview"]) <= 320
    assert "en-US-OnyxTurboMultilingualNeural" in body["available_voices"]["turbo_voices"]
    assert body["response_time_ms"] >= 0


def test_agent_list_works_before_any_agent_is_loaded(api_client, db):
    body = api_client.get("/api/v1/agents").json()
    assert body["agents_count"] == 0 and body["start_agent"] == ""


def test_agent_detail_is_case_insensitive_and_renders_for_a_session(api_client, library, demo):
    response = api_client.get("/api/v1/agents/concierge", {"session_id": "sess-jane"})
    assert response.status_code == 200
    agent = response.json()["agent"]
    assert agent["name"] == "Concierge"
    assert "{{" in agent["greeting"]
    assert agent["rendered_greeting"].startswith("Hello Jane,")
    assert "Jane Doe" in agent["rendered_prompt"]


def test_unknown_agent_is_404(api_client, library):
    response = api_client.get("/api/v1/agents/Nobody")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_put_needs_authentication(api_client, library):
    response = api_client.put(
        "/api/v1/agents/FraudAgent", {"model": {"temperature": 0.2}}, format="json"
    )
    assert response.status_code == 401


def test_put_persists_model_and_voice_and_reload_keeps_it(auth_client, library):
    response = auth_client.put(
        "/api/v1/agents/fraudagent",
        {
            "model": {"temperature": 0.2, "max_tokens": 300},
            "voice": {"voice_name": "en_US-joe-medium", "voice_rate": "+5%"},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["agent_name"] == "FraudAgent"
    assert set(body["updated_fields"]) == {
        "model.temperature",
        "model.max_tokens",
        "voice.voice_name",
        "voice.voice_rate",
    }
    agent = Agent.objects.get(name="FraudAgent")
    assert (agent.temperature, agent.max_tokens, agent.voice_name, agent.voice_rate) == (
        0.2,
        300,
        "en_US-joe-medium",
        "+5%",
    )
    report = library_load()
    assert "FraudAgent" in {s["name"] for s in report.skipped}
    assert Agent.objects.get(name="FraudAgent").temperature == 0.2
    listed = auth_client.get("/api/v1/agents").json()["agents"]
    assert next(a for a in listed if a["name"] == "FraudAgent")["edited"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": {"temperature": 2.5}}, "model"),
        ({"model": {"top_p": -1}}, "model"),
        ({"model": {"max_tokens": 20000}}, "model"),
        ({"voice": {"voice_rate": "fast"}}, "voice"),
        ({}, "non_field_errors"),
    ],
)
def test_put_rejects_bad_settings_naming_the_field(auth_client, library, body, field):
    response = auth_client.put("/api/v1/agents/FraudAgent", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Agent.objects.get(name="FraudAgent").temperature == 0.6


def test_put_unknown_agent_is_404(auth_client, library):
    response = auth_client.put("/api/v1/agents/Ghost", {"model": {"top_p": 0.5}}, format="json")
    assert response.status_code == 404


def test_put_rejects_an_unknown_voice_naming_the_field(auth_client, library):
    response = auth_client.put(
        "/api/v1/agents/Concierge", {"voice": {"voice_name": "en-US-Nonexistent"}}, format="json"
    )
    assert response.status_code == 400
    problem = response.json()["fields"]["voice"]["voice_name"][0]
    assert "en-US-Nonexistent" in problem
    assert Agent.objects.get(name="Concierge").voice_name == "en-US-AvaMultilingualNeural"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"voice": {"rate": "+5%"}}, ("voice", "rate")),
        ({"model": {"temp": 0.5}}, ("model", "temp")),
        ({"voice": {"voice_rate": "+5%"}, "greeting": "Hi"}, ("greeting",)),
    ],
)
def test_put_rejects_unknown_fields_naming_them(auth_client, library, body, path):
    before = Agent.objects.get(name="Concierge").content_digest()
    response = auth_client.put("/api/v1/agents/Concierge", body, format="json")
    assert response.status_code == 400
    node = response.json()["fields"]
    for key in path:
        node = node[key]
    assert "Unknown field" in node[0]
    assert Agent.objects.get(name="Concierge").content_digest() == before
