"""The shipped agents work with the offline `rules` dialogue engine (not an LLM): the words of
tool names, descriptions and parameters route a caller's request to the right tool or agent."""

import pytest

from agentbuilder.selectors import roster_build
from agentbuilder.services import demo_user_create
from media.providers.base import LLMRequest
from media.providers.rules import RulesDialogueEngine

pytestmark = pytest.mark.django_db


def _decide(agent, utterance: str):
    request = LLMRequest(
        session_id="sess-rules",
        agent=agent,
        messages=[
            {"role": "system", "content": agent.instructions},
            {"role": "user", "content": utterance},
        ],
        tools=agent.tools,
    )
    return RulesDialogueEngine().decide(request)


@pytest.mark.parametrize(
    ("utterance", "tool"),
    [
        ("what is my account balance", "get_account_summary"),
        ("my name is Jane Doe and my social is 1 2 3 4", "verify_client_identity"),
        ("I lost my card", "handoff_fraud_agent"),
        ("someone stole my credit card", "handoff_fraud_agent"),
        ("there is a charge I don't recognize", "handoff_fraud_agent"),
        ("I want a new credit card", "handoff_card_recommendation"),
        ("I want to roll over my 401k", "handoff_investment_advisor"),
        ("what are your opening hours", "handoff_general_kb"),
        ("can I talk to a real person", "escalate_human"),
    ],
)
def test_concierge_routes_what_callers_say(library, utterance, tool):
    _, call = _decide(roster_build().get("Concierge"), utterance)
    assert call is not None and call.name == tool


def test_a_missing_parameter_is_asked_as_a_spoken_question(library):
    text, call = _decide(roster_build().get("Concierge"), "please verify my identity")
    assert call is None and text == "What is your full name?"


def _after_handoff(agent, utterance: str):
    """The agent handed over to answers the caller's same utterance."""
    request = LLMRequest(
        session_id="sess-rules",
        agent=agent,
        messages=[
            {"role": "system", "content": agent.instructions},
            {"role": "user", "content": utterance},
            {"role": "tool", "tool_call_id": "call-1", "content": '{"handoff": true}'},
        ],
        tools=agent.tools,
    )
    return RulesDialogueEngine().decide(request)


@pytest.mark.parametrize(
    ("utterance", "tool"),
    [
        # What the offline recognizer (Whisper tiny.en) wrote for what the caller said.
        ("What is the melon song my checking account?", "get_account_summary"),
        ("what's my balance", "get_account_summary"),
        ("I think my current was stolen yesterday.", "handoff_fraud_agent"),
        ("What's up? You're opening our month Saturday.", "handoff_general_kb"),
    ],
)
def test_concierge_routes_what_the_recognizer_wrote(library, utterance, tool):
    _, call = _decide(roster_build().get("Concierge"), utterance)
    assert call is not None and call.name == tool


def test_a_misheard_stolen_card_is_reported_by_the_fraud_team(library):
    _, call = _after_handoff(
        roster_build().get("FraudAgent"), "I think my current was stolen yesterday."
    )
    assert call is not None
    assert (call.name, call.arguments) == ("report_lost_stolen_card", {"lost_or_stolen": "stolen"})


def test_misheard_opening_hours_are_answered_from_the_knowledge_base(library, runner, context):
    _, call = _after_handoff(
        roster_build().get("GeneralKB"), "What's up? You're opening our month Saturday."
    )
    assert call is not None and call.name == "search_knowledge_base"
    result = runner.run(call.name, call.arguments, context)
    assert result["results"][0]["id"] == "hours"
    assert "Saturday" in result["message"]


def test_opening_hours_reach_the_knowledge_base_of_a_specialist(library):
    _, call = _decide(roster_build().get("FraudAgent"), "What are your opening hours on Saturday?")
    assert call is not None and call.name == "search_knowledge_base"


@pytest.mark.parametrize(
    "utterance",
    [
        "My name is Alice Johnson and the last four digits of my social are 4817.",
        "My name is Alice Johnson and the last four digits of my social are 481 7.",
        "Hi, my name is Alis Jonson and my social ends in 4-8-1-7.",
        "I am Allison Johnston, social security ending in 48 17.",
    ],
)
def test_a_misheard_caller_is_verified_by_the_real_tool(library, runner, context, utterance):
    demo_user_create(full_name="Alice Johnson", email="alice@example.com", codes={"ssn4": "4817"})
    _, call = _decide(roster_build().get("Concierge"), utterance)
    assert call is not None and call.name == "verify_client_identity"
    result = runner.run(call.name, call.arguments, context)
    assert result["verified"] is True and result["caller_name"] == "Alice Johnson"
    assert result["message"] == "Thank you, Alice. You're verified."


def test_a_number_heard_as_a_year_is_read_back_and_corrected(library, runner, context):
    demo_user_create(full_name="Robert Garcia", email="rob@example.com", codes={"ssn4": "2095"})
    concierge = roster_build().get("Concierge")
    engine = RulesDialogueEngine()
    messages = [{"role": "system", "content": concierge.instructions}]

    def say(text: str):
        messages.append({"role": "user", "content": text})
        reply, call = engine.decide(LLMRequest("sess-rules", concierge, list(messages),
                                               concierge.tools))  # fmt: skip
        messages.append({"role": "assistant", "content": reply})
        return reply, call

    assert say("I am Robert Garcia, social security ending in 2019.") == (
        "Did you say 2 0 1 9?",
        None,
    )
    _, call = say("No, two oh nine five.")
    assert call is not None
    assert call.arguments == {"full_name": "Robert Garcia", "ssn_last_4": "2095"}
    assert runner.run(call.name, call.arguments, context)["verified"] is True
