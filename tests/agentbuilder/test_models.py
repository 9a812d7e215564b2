import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agentbuilder.models import Agent, SessionAgent

pytestmark = pytest.mark.django_db


def _agent(**overrides) -> Agent:
    values = {
        "name": "Helper",
        "handoff_trigger": "handoff_helper",
        "instructions": "You help {{ caller_name | default('the caller') }}.",
        "tools": ["search_knowledge_base"],
    }
    values.update(overrides)
    return Agent(**values)


def _errors(agent) -> dict:
    with pytest.raises(ValidationError) as info:
        agent.full_clean()
    return info.value.message_dict


def test_a_valid_agent_passes_validation(db):
    _agent().full_clean()


def test_unknown_tool_is_rejected():
    assert "not a registered tool" in _errors(_agent(tools=["teleport"]))["tools"][0]


def test_handoff_to_a_missing_agent_is_rejected(library):
    errors = _errors(_agent(tools=["handoff_fraud_agent", "handoff_ghost"]))
    assert "handoff_ghost hands off to an agent that does not exist" in errors["tools"][0]
    assert "handoff_fraud_agent" not in errors["tools"][0]


def test_handoff_to_itself_is_rejected(db):
    assert "itself" in _errors(_agent(tools=["handoff_helper"]))["tools"][0]


@pytest.mark.parametrize("field", ["greeting", "return_greeting", "instructions"])
def test_bad_jinja_is_rejected(db, field):
    errors = _errors(_agent(**{field: "Hello {{ caller_name "}))
    assert "Invalid Jinja" in errors[field][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 2.5), ("temperature", -0.1), ("top_p", 1.2), ("max_tokens", 0)],
)
def test_out_of_range_model_settings_are_rejected(db, field, value):
    assert field in _errors(_agent(**{field: value}))


def test_out_of_range_settings_are_also_refused_by_the_database(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        _agent(temperature=9).save()


def test_only_one_entry_point(db):
    _agent(is_entry_point=True).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _agent(name="Other", handoff_trigger="handoff_other", is_entry_point=True).save()


def test_trigger_may_not_shadow_a_registered_tool(db):
    assert "handoff_trigger" in _errors(_agent(handoff_trigger="refund_fee"))


def test_realtime_settings_must_be_known_objects(db):
    assert "realtime" in _errors(_agent(realtime={"turn_detection": 3}))
    assert "realtime" in _errors(_agent(realtime={"colour": {}}))


def test_session_agent_validates_its_tools_against_enabled_agents(library):
    agent = SessionAgent(
        session_id="sess-1",
        name="Pirate",
        instructions="Talk like a pirate, always.",
        tools=["handoff_concierge", "search_knowledge_base"],
    )
    agent.full_clean(exclude=["created_by"])
    Agent.objects.filter(name="Concierge").update(enabled=False, is_entry_point=False)
    with pytest.raises(ValidationError):
        agent.full_clean(exclude=["created_by"])


def test_a_line_with_only_a_block_tag_leaves_no_blank_line():
    from agentbuilder.rendering import render

    source = (
        "You help callers.\n{% if caller_name %}\nThe caller is {{ caller_name }}.\n"
        "{% endif %}\nBe brief."
    )
    assert render(source, {"caller_name": "Jane"}) == (
        "You help callers.\nThe caller is Jane.\nBe brief."
    )
    assert render(source, {}) == "You help callers.\nBe brief."
