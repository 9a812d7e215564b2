from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from agentbuilder.models import Agent, SessionAgent
from agentbuilder.selectors import roster_build
from agentbuilder.services import session_agent_upsert

pytestmark = pytest.mark.django_db

PIRATE = {
    "name": "Pirate",
    "prompt": "You are a pirate banker of {{ institution_name }}. Speak like one.",
    "greeting": "Ahoy {{ caller_name | default('matey') }}!",
    "tools": ["search_knowledge_base", "handoff_concierge"],
    "voice": {"name": "en_US-joe-medium"},
}


def test_roster_has_every_enabled_agent_and_starts_at_the_entry(library):
    roster = roster_build()
    assert roster.entry_agent == "Concierge"
    assert set(roster.agents) == set(Agent.objects.values_list("name", flat=True))
    concierge = roster.get("Concierge")
    assert concierge.is_entry_point
    assert "Contoso Bank" in concierge.greeting and "{{" not in concierge.greeting
    assert "{%" not in concierge.instructions


def test_handoff_tools_carry_their_target_and_silence(library):
    concierge = roster_build().get("Concierge")
    fraud = concierge.tool("handoff_fraud_agent")
    assert fraud.is_handoff and fraud.handoff_target == "FraudAgent"
    assert not fraud.silent_handoff
    cards = concierge.tool("handoff_card_recommendation")
    assert cards.handoff_target == "CardRecommendation" and cards.silent_handoff
    verify = concierge.tool("verify_client_identity")
    assert not verify.is_handoff
    assert verify.parameters["required"] == ["full_name", "ssn_last_4"]
    assert verify.as_openai_tool()["function"]["name"] == "verify_client_identity"


def test_variables_render_into_prompts(library):
    roster = roster_build(variables={"caller_name": "Sam Lee", "client_id": "sam_lee_cfs"})
    concierge = roster.get("Concierge")
    assert concierge.greeting.startswith("Hello Sam,")
    assert "The caller is Sam Lee (client id sam_lee_cfs)" in concierge.instructions
    fraud = roster.get("FraudAgent")
    assert "not verified yet" not in fraud.instructions


def test_the_demo_caller_of_the_session_is_known_to_the_prompts(library, demo):
    concierge = roster_build(session_id="sess-jane").get("Concierge")
    assert concierge.greeting.startswith("Hello Jane,")
    assert roster_build(session_id="another").get("Concierge").greeting.startswith("Hello,")


def test_disabled_agents_and_handoffs_to_them_are_left_out(library):
    Agent.objects.filter(name="GeneralKB").update(enabled=False)
    roster = roster_build()
    assert "GeneralKB" not in roster.agents
    assert roster.get("Concierge").tool("handoff_general_kb") is None


def test_session_agent_is_the_entry_and_can_hand_back(library):
    session_agent_upsert(session_id="sess-pirate", config=PIRATE)
    roster = roster_build(session_id="sess-pirate", variables={"caller_name": "Ann"})
    assert roster.entry_agent == "Pirate"
    pirate = roster.get("Pirate")
    assert pirate.greeting == "Ahoy Ann!"
    assert pirate.voice.name == "en_US-joe-medium"
    assert pirate.tool("handoff_concierge").handoff_target == "Concierge"
    assert not roster.get("Concierge").is_entry_point
    # Other sessions are untouched.
    assert roster_build(session_id="sess-other").entry_agent == "Concierge"


def test_session_agent_with_a_library_name_replaces_it_for_that_session(library):
    session_agent_upsert(session_id="sess-x", config={**PIRATE, "name": "GeneralKB"})
    roster = roster_build(session_id="sess-x")
    assert roster.entry_agent == "GeneralKB"
    assert roster.get("GeneralKB").greeting.startswith("Ahoy")
    assert roster.get("Concierge").tool("handoff_general_kb").handoff_target == "GeneralKB"


def test_session_agent_may_not_take_a_library_agents_trigger(library):
    with pytest.raises(ValidationError) as caught:
        session_agent_upsert(session_id="sess-x", config={**PIRATE, "name": "general_kb"})
    assert "name" in caught.value.message_dict
    assert not SessionAgent.objects.exists()


def test_session_agent_replaces_an_agent_created_later_under_its_name(library):
    session_agent_upsert(session_id="sess-x", config={**PIRATE, "name": "Pirate"})
    Agent.objects.filter(name="GeneralKB").update(name="Pirate")
    roster = roster_build(session_id="sess-x")
    assert roster.entry_agent == "Pirate"
    assert roster.get("Pirate").greeting.startswith("Ahoy")
    assert "GeneralKB" not in roster.agents


def test_expired_session_agent_is_ignored(library):
    session_agent_upsert(session_id="sess-old", config=PIRATE)
    SessionAgent.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert roster_build(session_id="sess-old").entry_agent == "Concierge"


def test_no_agents_is_a_clear_error(db):
    with pytest.raises(LookupError, match="load_agents"):
        roster_build()
