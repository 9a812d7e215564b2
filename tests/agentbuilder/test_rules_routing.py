"""The shipped agents work with the offline `rules` dialogue engine (not an LLM): the words of
tool names, descriptions and parameters route a caller's request to the right tool or agent."""

import pytest

from agentbuilder.selectors import roster_build
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
