from pathlib import Path

import pytest
from django.core.management import call_command

from agentbuilder.models import Agent, AgentTemplate, CardProduct
from agentbuilder.services import LibraryError, library_load
from agentbuilder.services.library import LIBRARY_DIR
from agentbuilder.tools.registry import registry

pytestmark = pytest.mark.django_db

SHIPPED = {
    "Concierge",
    "AuthAgent",
    "FraudAgent",
    "CardRecommendation",
    "InvestmentAdvisor",
    "ComplianceDesk",
    "GeneralKB",
}


def test_load_creates_the_banking_agents_with_concierge_as_entry(library):
    assert set(library.created) == SHIPPED
    assert set(Agent.objects.values_list("name", flat=True)) == SHIPPED
    assert Agent.objects.get(is_entry_point=True).name == "Concierge"
    assert AgentTemplate.objects.count() == len(SHIPPED)
    assert CardProduct.objects.count() >= 4


def test_every_shipped_agent_tool_exists_and_every_handoff_reaches_an_agent(library):
    triggers = dict(Agent.objects.values_list("handoff_trigger", "name"))
    tools = registry()
    for agent in Agent.objects.all():
        assert agent.tools, agent.name
        for name in agent.tools:
            assert name in tools or name in triggers, f"{agent.name}: {name}"
        agent.full_clean()
    # Every specialist can be reached from the entry agent and can hand back.
    concierge = Agent.objects.get(name="Concierge")
    reachable = {triggers[t] for t in concierge.tools if t in triggers}
    assert reachable == SHIPPED - {"Concierge"}
    for agent in Agent.objects.exclude(name="Concierge"):
        assert "handoff_concierge" in agent.tools, agent.name


def test_silent_handoff_agents_have_no_greeting(library):
    assert Agent.objects.get(name="CardRecommendation").greeting == ""
    assert Agent.objects.get(name="InvestmentAdvisor").greeting == ""
    assert Agent.objects.get(name="FraudAgent").greeting


def test_reload_is_idempotent(library):
    before = dict(Agent.objects.values_list("name", "updated_at"))
    report = library_load()
    assert report.created == [] and report.updated == [] and report.skipped == []
    assert set(report.unchanged) == SHIPPED
    assert dict(Agent.objects.values_list("name", "updated_at")) == before
    assert AgentTemplate.objects.count() == len(SHIPPED)


def test_reload_never_overwrites_an_edited_agent_and_says_so(library):
    agent = Agent.objects.get(name="FraudAgent")
    agent.greeting = "Fraud team, edited by an operator."
    agent.save()
    report = library_load()
    assert [s["name"] for s in report.skipped] == ["FraudAgent"]
    assert "edited" in report.skipped[0]["reason"]
    agent.refresh_from_db()
    assert agent.greeting == "Fraud team, edited by an operator."
    forced = library_load(force=True)
    assert forced.updated == ["FraudAgent"]
    agent.refresh_from_db()
    assert agent.greeting != "Fraud team, edited by an operator."


def test_agent_created_in_the_admin_with_a_library_name_is_left_alone(db):
    Agent.objects.create(
        name="GeneralKB",
        handoff_trigger="handoff_general_kb",
        instructions="Answer questions.",
        source=Agent.Source.ADMIN,
    )
    report = library_load()
    assert {s["name"] for s in report.skipped} == {"GeneralKB"}
    assert Agent.objects.get(name="GeneralKB").instructions == "Answer questions."


def _copy_library(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    for path in (LIBRARY_DIR / "agents").glob("*.yaml"):
        (tmp_path / "agents" / path.name).write_text(path.read_text())
    return tmp_path


def test_a_changed_library_file_updates_an_unedited_agent(library, tmp_path):
    directory = _copy_library(tmp_path)
    path = directory / "agents" / "general_kb.yaml"
    path.write_text(path.read_text().replace("What would you like to know?", "Ask me anything."))
    report = library_load(directory=directory)
    assert report.updated == ["GeneralKB"]
    assert Agent.objects.get(name="GeneralKB").greeting.endswith("Ask me anything.")


@pytest.mark.parametrize(
    ("needle", "replacement", "problem"),
    [
        ("  - search_knowledge_base\n", "  - no_such_tool\n", "no_such_tool"),
        ("  - handoff_concierge\n", "  - handoff_nobody\n", "does not exist"),
        ("temperature: 0.4", "temperature: 3.5", "temperature"),
        ("What would you like to know?", "{{ oops", "Jinja"),
    ],
)
def test_a_broken_library_file_is_rejected_and_changes_nothing(
    db, tmp_path, needle, replacement, problem
):
    directory = _copy_library(tmp_path)
    path = directory / "agents" / "general_kb.yaml"
    text = path.read_text()
    assert needle in text
    path.write_text(text.replace(needle, replacement, 1))
    with pytest.raises(LibraryError, match=problem):
        library_load(directory=directory)
    assert Agent.objects.count() == 0


def test_load_agents_command_reports_what_it_did(db, capsys):
    call_command("load_agents")
    call_command("load_agents")
    out = capsys.readouterr().out
    assert "7 created" in out
    assert "7 unchanged" in out
