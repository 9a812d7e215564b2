import os
import re

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
        "verify_identity_by_keypad",
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
        ({"prompt": "Hello {{ broken"}, "prompt"),
        ({"greeting": "Hi {% if %}"}, "greeting"),
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
        "DEFAULT_THROTTLE_RATES": {"anon": "100/minute", "session_agent_write": "2/hour"},
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
    assert second["skipped_count"] == 1
    # The edited agent is still loaded (as edited): every library agent is reported.
    assert second["agent_count"] == len(second["agents"]) == 7
    assert "GeneralKB" in second["agents"]
    assert set(second["unchanged"]) == set(second["agents"]) - {"GeneralKB"}
    assert "1 skipped" in second["message"]
    assert Agent.objects.get(name="GeneralKB").greeting == "Edited greeting."


def _create(client, session_id: str, **change):
    return client.post(
        f"/api/v1/agent-builder/create?session_id={session_id}", {**AGENT, **change}, format="json"
    )


def test_reload_reports_an_agent_skipped_for_a_conflict_apart_from_the_loaded(auth_client, db):
    # An admin-made agent already holds GeneralKB's trigger: GeneralKB cannot be loaded.
    Agent.objects.create(
        name="Helpdesk", handoff_trigger="handoff_general_kb", instructions="Help.", tools=[]
    )
    body = auth_client.post("/api/v1/agent-builder/reload-agents").json()
    assert body["skipped"] == [
        {"name": "GeneralKB", "reason": "another agent already uses the trigger handoff_general_kb"}
    ]
    assert "GeneralKB" not in body["agents"]
    assert body["agent_count"] == len(body["agents"]) == 6


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_tools_reject_a_non_boolean_include_handoffs(api_client, library, value):
    response = api_client.get("/api/v1/agent-builder/tools", {"include_handoffs": value})
    assert response.status_code == 400
    assert "include_handoffs" in response.json()["fields"]


@pytest.mark.parametrize(("value", "handoffs"), [("true", True), ("0", False), ("FALSE", False)])
def test_tools_accept_the_usual_booleans(api_client, library, value, handoffs):
    body = api_client.get("/api/v1/agent-builder/tools", {"include_handoffs": value}).json()
    assert any(t["is_handoff"] for t in body["tools"]) is handoffs


def test_create_rejects_an_unknown_voice_naming_it(auth_client, library):
    response = _create(auth_client, "sess-voice", voice={"name": "bogus-voice"})
    assert response.status_code == 400
    problem = response.json()["fields"]["voice"]["name"][0]
    assert "bogus-voice" in problem and "/api/v1/agent-builder/voices" in problem
    assert not SessionAgent.objects.exists()


def test_create_accepts_every_listed_voice(auth_client, library):
    voices = auth_client.get("/api/v1/agent-builder/voices").json()["voices"]
    for i, voice in enumerate(voices):
        response = auth_client.post(
            f"/api/v1/agent-builder/create?session_id=sess-voice-{i}",
            {**AGENT, "voice": {"name": voice["name"]}},
            format="json",
        )
        assert response.status_code == 201, (voice, response.json())


def test_create_rejects_unknown_fields_naming_them(auth_client, library):
    response = _create(
        auth_client, "sess-extra", instructions="You are a pirate.", voice={"speed": "fast"}
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "instructions" in fields
    assert "speed" in fields["voice"]


def test_a_bad_name_is_told_what_is_allowed(auth_client, library):
    response = _create(auth_client, "sess-name", name="Pirate Banker")
    assert response.status_code == 400
    problem = response.json()["fields"]["name"][0]
    assert "does not match the required pattern" not in problem
    assert "letters, digits, '_' or '-'" in problem and "no spaces" in problem


def test_a_bad_jinja_prompt_is_reported_under_prompt(auth_client, library):
    response = _create(auth_client, "sess-jinja", prompt="You are {{ agent_name")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["prompt"]
    assert "Invalid Jinja template" in fields["prompt"][0]


def test_a_model_error_names_the_request_field(auth_client, library):
    # The handoff check needs the database (the agents' triggers): it runs in the model's clean().
    response = _create(auth_client, "sess-tools", tools=["handoff_pirate"])
    assert response.status_code == 400
    assert "does not exist" in response.json()["fields"]["tools"][0]


@pytest.mark.parametrize("name", ["concierge", "fraud_agent", "general_kb"])
def test_a_session_agent_may_not_take_a_database_agents_trigger(auth_client, library, name):
    response = _create(auth_client, "sess-clash", name=name)
    assert response.status_code == 400
    assert "clashes with the agent" in response.json()["fields"]["name"][0]
    assert not SessionAgent.objects.exists()


def test_a_session_agent_may_not_take_a_disabled_agents_trigger(auth_client, library):
    Agent.objects.filter(name="GeneralKB").update(enabled=False)
    response = auth_client.put(
        "/api/v1/agent-builder/session/sess-clash", {**AGENT, "name": "general_kb"}, format="json"
    )
    assert response.status_code == 400
    assert "name" in response.json()["fields"]


def test_a_session_agent_with_an_agents_exact_name_replaces_it(auth_client, library):
    response = _create(auth_client, "sess-replace", name="GeneralKB")
    assert response.status_code == 201, response.json()


def test_only_the_owner_or_staff_reads_a_signed_in_users_session_agent(
    auth_client, api_client, staff_user, library
):
    auth_client.post("/api/v1/agent-builder/create?session_id=sess-private", AGENT, format="json")
    other = get_user_model().objects.create_user(username="other", password="a-long-passphrase")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    for client in (api_client, other_client):
        response = client.get("/api/v1/agent-builder/session/sess-private")
        assert response.status_code in (401, 403, 404)
        assert AGENT["prompt"] not in response.content.decode()
    staff_client = APIClient()
    staff_client.force_authenticate(staff_user)
    for client in (auth_client, staff_client):
        response = client.get("/api/v1/agent-builder/session/sess-private")
        assert response.status_code == 200
        assert response.json()["config"]["prompt_full"] == AGENT["prompt"]


def test_an_anonymous_session_agent_is_read_with_its_session_token(api_client, library):
    created = api_client.post(
        "/api/v1/agent-builder/create?session_id=sess-anon", AGENT, format="json"
    )
    token = created.json()["session_token"]
    response = api_client.get("/api/v1/agent-builder/session/sess-anon", HTTP_X_SESSION_TOKEN=token)
    assert response.status_code == 200
    refused = api_client.get("/api/v1/agent-builder/session/sess-anon")
    assert refused.status_code == 403 and AGENT["prompt"] not in refused.content.decode()


def test_an_anonymous_session_cannot_be_given_an_agent_by_another_client(
    api_client, auth_client, library
):
    """A visitor's session is bound to them (the socket's token); knowing its id is not enough."""
    from browser.services import session_claim

    token = session_claim(session_id="session_visitor_1")
    url = "/api/v1/agent-builder/create?session_id=session_visitor_1"
    for client, headers in [
        (api_client, {}),
        (api_client, {"HTTP_X_SESSION_TOKEN": "guessed"}),
        (auth_client, {}),
    ]:
        response = client.post(url, AGENT, format="json", **headers)
        assert response.status_code == 403, response.content
        assert response.json()["detail"] == (
            "This session belongs to another visitor: present its session token."
        )
    assert not SessionAgent.objects.filter(session_id="session_visitor_1").exists()

    own = api_client.post(url, AGENT, format="json", HTTP_X_SESSION_TOKEN=token)
    assert own.status_code == 201 and "session_token" not in own.json()
    assert SessionAgent.objects.filter(session_id="session_visitor_1").exists()


def test_a_new_session_id_from_the_builder_is_unguessable_and_its_own(api_client, library):
    created = api_client.post("/api/v1/agent-builder/create", AGENT, format="json").json()
    assert re.fullmatch(r"session_[A-Za-z0-9_-]{24}", created["session_id"])
    url = f"/api/v1/agent-builder/session/{created['session_id']}"
    assert api_client.delete(url).status_code == 403
    deleted = api_client.delete(url, HTTP_X_SESSION_TOKEN=created["session_token"])
    assert deleted.json()["status"] == "removed"


def test_an_invalid_agent_leaves_a_new_session_id_unclaimed(api_client, library):
    from browser.models import SessionClaim

    url = "/api/v1/agent-builder/create?session_id=sess-invalid-1"
    response = api_client.post(url, {**AGENT, "name": "concierge"}, format="json")
    assert response.status_code == 400 and "clashes" in response.json()["fields"]["name"][0]
    assert not SessionClaim.objects.filter(session_id="sess-invalid-1").exists()


def test_demo_profiles_and_session_agent_writes_have_separate_limits(api_client, library, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "anon": "100/minute",
            "demo_create": "1/hour",
            "session_agent_write": "3/hour",
        },
    }
    demo = {"full_name": "Jane Doe", "email": "jane@example.com"}
    assert api_client.post("/api/v1/demo-env/temporary-user", demo, format="json").status_code == (
        201
    )
    assert api_client.post("/api/v1/demo-env/temporary-user", demo, format="json").status_code == (
        429
    )
    url = "/api/v1/agent-builder/session/sess-limits"
    created = api_client.post(
        "/api/v1/agent-builder/create?session_id=sess-limits", AGENT, format="json"
    )
    token = {"HTTP_X_SESSION_TOKEN": created.json()["session_token"]}
    codes = [
        created.status_code,
        api_client.put(url, AGENT, format="json", **token).status_code,
        api_client.delete(url, **token).status_code,
        api_client.put(url, AGENT, format="json", **token).status_code,
    ]
    assert codes == [201, 200, 200, 429]


ESPEAK_LISTING = """\
Pty Language       Age/Gender VoiceName          File                 Other Languages
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 3  en-uk           --/M      english-mb-en1     mb/mb-en1            (en-gb 3)(en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  variant         --/M      Storm              !v/Storm             (en-us 5)
"""


@pytest.fixture
def espeak_listing(tmp_path, monkeypatch):
    """An `espeak-ng` on PATH that lists voices as espeak-ng 1.51 does, variants included."""
    from agentbuilder.voices import voice_catalogue

    binary = tmp_path / "espeak-ng"
    binary.write_text(f"#!/bin/sh\ncat <<'EOF'\n{ESPEAK_LISTING}EOF\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    voice_catalogue.cache_clear()
    yield
    voice_catalogue.cache_clear()


def test_local_voices_are_espeak_languages_not_variants(api_client, espeak_listing):
    body = api_client.get("/api/v1/agent-builder/voices", {"category": "local"}).json()
    espeak = {v["name"] for v in body["voices"] if v["provider"] == "espeak-ng"}
    assert espeak == {"espeak-ng:en-gb", "espeak-ng:en-us"}
