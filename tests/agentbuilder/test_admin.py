import re

import pytest
from django.urls import reverse

from agentbuilder.models import Agent, AgentTemplate, SessionAgent
from agentbuilder.services import session_agent_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _form_data(agent: Agent, **changes) -> dict:
    data = {
        "name": agent.name,
        "enabled": "on" if agent.enabled else "",
        "is_entry_point": "on" if agent.is_entry_point else "",
        "handoff_trigger": agent.handoff_trigger,
        "handoff_description": agent.handoff_description,
        "metadata": "{}",
        "description": agent.description,
        "greeting": agent.greeting,
        "return_greeting": agent.return_greeting,
        "instructions": agent.instructions,
        "template_vars": '{"agent_name": "Ava"}',
        "voice_name": agent.voice_name,
        "voice_style": agent.voice_style,
        "voice_rate": agent.voice_rate,
        "model_deployment": agent.model_deployment,
        "temperature": agent.temperature,
        "top_p": agent.top_p,
        "max_tokens": agent.max_tokens,
        "tools": list(agent.tools),
        "realtime": "{}",
        "pii_redaction": agent.pii_redaction,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_every_agentbuilder_admin_page_renders(admin_client, library, demo):
    session_agent_upsert(
        session_id="sess-admin",
        config={"name": "Pirate", "prompt": "Talk like a pirate, please.", "tools": []},
    )
    from django.contrib import admin

    models = [m for m in admin.site._registry if m._meta.app_label == "agentbuilder"]
    assert len(models) >= 10
    for model in models:
        opts = model._meta
        changelist = admin_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        )
        assert changelist.status_code == 200, opts.model_name
        first = model.objects.first()
        if first is not None:
            change = admin_client.get(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            )
            assert change.status_code == 200, opts.model_name


def test_agent_changelist_shows_the_handoff_graph(admin_client, library):
    html = admin_client.get(reverse("admin:agentbuilder_agent_changelist")).content.decode()
    assert 'id="handoff-graph"' in html
    assert "Concierge (entry)" in html
    assert "AuthAgent, CardRecommendation, ComplianceDesk, FraudAgent" in html


def test_agent_change_page_has_tool_picker_voices_preview_and_graph(admin_client, library):
    agent = Agent.objects.get(name="Concierge")
    html = admin_client.get(
        reverse("admin:agentbuilder_agent_change", args=[agent.pk])
    ).content.decode()
    assert 'type="checkbox" name="tools" value="verify_client_identity"' in html
    assert 'name="tools" value="handoff_fraud_agent"' in html
    # An agent cannot pick its own trigger.
    assert 'name="tools" value="handoff_concierge"' not in html
    assert '<option value="en-US-OnyxTurboMultilingualNeural"' in html
    assert "I&#x27;m Ava, your banking assistant" in html  # rendered greeting preview
    assert "Reached from:" in html and "FraudAgent" in html


def test_agent_change_page_groups_the_tool_picker_under_one_label(admin_client, library):
    from agentbuilder.tools.registry import registry

    agent = Agent.objects.get(name="FraudAgent")
    html = admin_client.get(
        reverse("admin:agentbuilder_agent_change", args=[agent.pk])
    ).content.decode()
    picker = html[html.index('<div class="tool-picker"') :]
    picker = picker[: picker.index('class="help"')]
    # One heading names the picker; the field has no second "Tools" label beside it.
    assert html.count("Tools and handoffs</h2>") == 1
    assert re.search(r"<label[^>]*>\s*Tools:?\s*</label>", html) is None
    legends = re.findall(r"<legend>(.*?)</legend>", picker)
    assert legends[-1] == "Handoffs"
    assert {"Auth", "Fraud", "Cards"} <= set(legends)
    # Every registered tool appears once, under its first tag, with its description.
    for tool in registry().values():
        assert picker.count(f'name="tools" value="{tool.name}"') == 1, tool.name
        assert tool.description.replace("'", "&#x27;") in picker, tool.name
    fraud_group = picker[picker.index("<legend>Fraud</legend>") :]
    fraud_group = fraud_group[: fraud_group.index("</fieldset>")]
    assert 'value="report_lost_stolen_card"' in fraud_group
    assert 'value="verify_client_identity"' not in fraud_group
    checked = re.findall(r'value="([^"]+)"[^>]*\bchecked\b', picker)
    assert sorted(checked) == sorted(agent.tools)
    # Handoffs say where they lead.
    assert "→ Concierge:" in picker


def test_agent_change_page_saves_tools_picked_in_the_picker(admin_client, library):
    agent = Agent.objects.get(name="FraudAgent")
    url = reverse("admin:agentbuilder_agent_change", args=[agent.pk])
    tools = [*agent.tools, "get_account_summary", "handoff_general_kb"]
    tools.remove("report_lost_stolen_card")
    response = admin_client.post(url, _form_data(agent, tools=tools))
    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert sorted(agent.tools) == sorted(tools)
    page = admin_client.get(url).content.decode()
    assert re.search(r'value="handoff_general_kb"[^>]*\bchecked\b', page)
    assert not re.search(r'value="report_lost_stolen_card"[^>]*\bchecked\b', page)


def test_agent_change_page_sets_the_agents_pii_redaction(admin_client, library):
    agent = Agent.objects.get(name="AuthAgent")
    url = reverse("admin:agentbuilder_agent_change", args=[agent.pk])
    assert 'name="pii_redaction"' in admin_client.get(url).content.decode()
    response = admin_client.post(url, _form_data(agent, pii_redaction="llm"))
    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert agent.pii_redaction == "llm"
    refused = admin_client.post(url, _form_data(agent, pii_redaction="everything"))
    assert refused.status_code == 200 and "errornote" in refused.content.decode()


def test_agent_changelist_columns_fit_beside_the_filters(admin_client, library):
    html = admin_client.get(reverse("admin:agentbuilder_agent_changelist")).content.decode()
    head = html[html.index('<table id="result_list">') :]
    head = head[: head.index("</thead>")]
    columns = re.findall(r'<th scope="col" class="([^"]*)"', head)
    # Checkbox, name, entry, enabled, voice, tools, source, edited: no long text columns.
    assert len(columns) <= 8, columns
    assert not any("hands_off_to" in c or "updated_at" in c for c in columns)
    # The voice column shows the voice's short name; the full name is its tooltip.
    assert '<span title="en-US-AvaMultilingualNeural">Ava</span>' in html


def test_admin_saves_an_edit_and_reload_then_skips_it(admin_client, library):
    agent = Agent.objects.get(name="Concierge")
    url = reverse("admin:agentbuilder_agent_change", args=[agent.pk])
    response = admin_client.post(
        url, _form_data(agent, greeting="Hi from the admin.", temperature="0.3")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert agent.greeting == "Hi from the admin." and agent.temperature == 0.3
    from agentbuilder.services import library_load

    assert {s["name"] for s in library_load().skipped} == {"Concierge"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tools": ["teleport"]}, "Select a valid choice"),
        ({"greeting": "Hello {{ oops"}, "Invalid Jinja"),
        ({"temperature": "5"}, "less than or equal to 2"),
    ],
)
def test_admin_rejects_invalid_agents(admin_client, library, changes, message):
    agent = Agent.objects.get(name="GeneralKB")
    url = reverse("admin:agentbuilder_agent_change", args=[agent.pk])
    response = admin_client.post(url, _form_data(agent, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    agent.refresh_from_db()
    assert agent.temperature == 0.4


def test_admin_adds_a_new_agent(admin_client, library):
    response = admin_client.post(
        reverse("admin:agentbuilder_agent_add"),
        {
            "name": "Mortgages",
            "enabled": "on",
            "handoff_trigger": "handoff_mortgages",
            "metadata": "{}",
            "instructions": "You answer mortgage questions briefly.",
            "template_vars": "{}",
            "voice_name": "en-US-AvaMultilingualNeural",
            "voice_style": "chat",
            "voice_rate": "+0%",
            "model_deployment": "gpt-4o",
            "temperature": "0.5",
            "top_p": "0.9",
            "max_tokens": "800",
            "tools": ["search_knowledge_base", "handoff_concierge"],
            "realtime": "{}",
            "pii_redaction": "inherit",
        },
    )
    assert response.status_code == 302
    created = Agent.objects.get(name="Mortgages")
    assert created.source == Agent.Source.ADMIN
    assert created.tools == ["search_knowledge_base", "handoff_concierge"]


def test_template_and_session_agent_pages_save(admin_client, library):
    template = AgentTemplate.objects.get(slug="general-kb")
    page = admin_client.get(reverse("admin:agentbuilder_agenttemplate_change", args=[template.pk]))
    assert page.status_code == 200
    agent, _ = session_agent_upsert(
        session_id="sess-admin-save",
        config={"name": "Pirate", "prompt": "Talk like a pirate, please.", "tools": []},
    )
    response = admin_client.post(
        reverse("admin:agentbuilder_sessionagent_change", args=[agent.pk]),
        {
            "session_id": agent.session_id,
            "name": "Pirate",
            "instructions": "Talk like a friendly pirate.",
            "template_vars": "{}",
            "voice_name": "en-US-AvaMultilingualNeural",
            "voice_style": "chat",
            "voice_rate": "+0%",
            "model_deployment": "gpt-4o",
            "temperature": "0.7",
            "top_p": "0.9",
            "max_tokens": "500",
            "tools": ["search_knowledge_base"],
            "realtime": "{}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert SessionAgent.objects.get(pk=agent.pk).instructions == "Talk like a friendly pirate."


def test_demo_user_admin_never_shows_code_hashes(admin_client, demo):
    html = admin_client.get(
        reverse("admin:agentbuilder_demouser_change", args=[demo.user.pk])
    ).content.decode()
    for secret in demo.user.codes.all():
        assert secret.code_hash not in html and secret.salt not in html
    assert demo.codes["mfa"] not in html
