"""Reads: agents, the handoff graph, the tool and voice catalogues, and the session roster."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db.models import Q

from agentbuilder.models import Agent, AgentConfig, DemoUser, SessionAgent
from agentbuilder.rendering import base_context, render
from agentbuilder.tools.registry import Tool, registry
from agentbuilder.tools.runner import DatabaseToolRunner
from agentbuilder.validation import trigger_for
from media.engine.snapshot import AgentRoster, AgentSnapshot, ModelSpec, ToolSpec, VoiceSpec

logger = logging.getLogger(__name__)

DEFAULT_ENTRY_AGENT = "Concierge"
HANDOFF_PARAMETERS = {
    "type": "object",
    "properties": {
        "reason": {
            "type": "string",
            "description": "what the caller needs help with, in a few words",
            "maxLength": 500,
        },
        "client_id": {
            "type": "string",
            "description": "the verified client id, when the caller is verified",
            "maxLength": 80,
        },
    },
    "required": [],
    "additionalProperties": False,
}


# --- agents and the handoff graph -------------------------------------------------------


def agent_list(*, enabled_only: bool = False):
    agents = Agent.objects.all()
    return agents.filter(enabled=True) if enabled_only else agents


def agent_get(*, name: str) -> Agent | None:
    """An agent by name, case-insensitively."""
    return Agent.objects.filter(name__iexact=name).first()


def handoff_map(agents: Iterable[Agent] | None = None) -> dict[str, str]:
    """Trigger tool name -> agent name, over enabled agents."""
    agents = agent_list(enabled_only=True) if agents is None else agents
    return {a.handoff_trigger: a.name for a in agents if a.enabled}


def handoff_edges(agents: Iterable[Agent] | None = None) -> list[dict[str, str]]:
    """Every handoff an agent can make: `{source, tool, target}`."""
    agents = list(agent_list(enabled_only=True) if agents is None else agents)
    triggers = handoff_map(agents)
    return [
        {"source": a.name, "tool": t, "target": triggers[t]}
        for a in agents
        for t in a.tools
        if t in triggers
    ]


def entry_agent_name(agents: Iterable[Agent] | None = None) -> str:
    agents = list(agent_list(enabled_only=True) if agents is None else agents)
    for agent in agents:
        if agent.is_entry_point:
            return agent.name
    names = [a.name for a in agents]
    if DEFAULT_ENTRY_AGENT in names:
        return DEFAULT_ENTRY_AGENT
    return names[0] if names else ""


# --- tools --------------------------------------------------------------------------------


def tool_catalogue(*, include_handoffs: bool = True, category: str = "") -> list[dict[str, Any]]:
    """Registered tools, then (optionally) the agents' handoff tools; non-handoff first."""
    items = [
        {
            "name": t.name,
            "description": t.description,
            "is_handoff": False,
            "tags": sorted(t.tags),
            "parameters": t.parameters,
        }
        for t in registry().values()
    ]
    if include_handoffs:
        items += [
            {
                "name": a.handoff_trigger,
                "description": handoff_description(a),
                "is_handoff": True,
                "tags": ["handoff"],
                "parameters": HANDOFF_PARAMETERS,
                "target_agent": a.name,
            }
            for a in agent_list(enabled_only=True)
        ]
    if category:
        items = [t for t in items if category in t["tags"]]
    return sorted(items, key=lambda t: (t["is_handoff"], t["name"]))


def handoff_description(agent: Agent) -> str:
    when = agent.handoff_description or agent.description
    return f"Transfer the caller to {agent.name}: {when}" if when else f"Transfer to {agent.name}"


def _tool_spec(tool: Tool) -> ToolSpec:
    return ToolSpec(
        name=tool.name,
        description=tool.description,
        parameters=tool.parameters,
        tags=tool.tags,
        ends_call=tool.ends_call,
    )


# --- the roster a conversation runs on ----------------------------------------------------


def caller_variables(user: DemoUser) -> dict[str, Any]:
    """Template variables describing a demo caller (no secrets: codes never leave the DB)."""
    return {
        "caller_name": user.full_name,
        "client_id": user.client_id,
        "relationship_tier": user.relationship_tier,
        "user_email": user.email,
        "customer_intelligence": user.customer_intelligence,
        "session_profile": {
            "client_id": user.client_id,
            "full_name": user.full_name,
            "institution_name": user.institution_name,
            "relationship_tier": user.relationship_tier,
            "preferred_channel": user.preferred_channel,
        },
    }


def session_variables(*, session_id: str | None) -> dict[str, Any]:
    """Template variables known about the caller of a session (its demo profile, if any)."""
    if not session_id:
        return {}
    user = DemoUser.objects.active().filter(session_id=session_id).order_by("-created_at").first()
    return caller_variables(user) if user is not None else {}


def _snapshot(
    agent: AgentConfig,
    *,
    name: str,
    trigger: str,
    is_entry_point: bool,
    variables: Mapping[str, Any],
    targets: Mapping[str, Agent | AgentConfig],
) -> AgentSnapshot:
    context = base_context(agent_name=name, template_vars=agent.template_vars)
    context.update({k: v for k, v in variables.items() if v is not None})
    tools = registry()
    specs: list[ToolSpec] = []
    for tool_name in agent.tools:
        if tool_name in tools:
            specs.append(_tool_spec(tools[tool_name]))
        elif tool_name in targets and tool_name != trigger:
            target = targets[tool_name]
            specs.append(
                ToolSpec(
                    name=tool_name,
                    description=handoff_description(target)
                    if isinstance(target, Agent)
                    else f"Transfer the caller to {target.name}: {target.description}",
                    parameters=HANDOFF_PARAMETERS,
                    is_handoff=True,
                    handoff_target=target.name,
                    silent_handoff=not (target.greeting or "").strip(),
                    tags=("handoff",),
                )
            )
        else:
            logger.warning("agent %s: tool %s is not available, left out", name, tool_name)
    context["tools"] = [s.name for s in specs]
    return AgentSnapshot(
        name=name,
        description=agent.description,
        instructions=render(agent.instructions, context),
        greeting=render(agent.greeting, context),
        return_greeting=render(agent.return_greeting, context),
        voice=VoiceSpec(name=agent.voice_name, style=agent.voice_style, rate=agent.voice_rate),
        model=ModelSpec(
            deployment=agent.model_deployment,
            temperature=agent.temperature,
            top_p=agent.top_p,
            max_tokens=agent.max_tokens,
        ),
        tools=tuple(specs),
        handoff_trigger=trigger,
        is_entry_point=is_entry_point,
        realtime=dict(agent.realtime or {}),
    )


def session_agent_get(*, session_id: str) -> SessionAgent | None:
    return SessionAgent.objects.active().filter(session_id=session_id).first()


def roster_build(*, session_id: str | None = None, variables: dict | None = None) -> AgentRoster:
    """Every enabled agent rendered for one session, plus the session's dynamic agent.

    Template context: built-in defaults < the agent's template variables < what is known about
    the session's demo caller < `variables`. The session agent, when there is one, is the entry
    agent. A session agent under an agent's exact name replaces that agent for its session.
    """
    agents = list(agent_list(enabled_only=True))
    session_agent = session_agent_get(session_id=session_id) if session_id else None
    merged = {**session_variables(session_id=session_id), **(variables or {})}
    targets: dict[str, Any] = {a.handoff_trigger: a for a in agents}
    if session_agent is not None:
        agents = [a for a in agents if a.name != session_agent.name]
        targets = {t: a for t, a in targets.items() if a.name != session_agent.name}
        targets[session_agent.handoff_trigger] = session_agent
    entry = session_agent.name if session_agent else entry_agent_name(agents)
    snapshots = {
        a.name: _snapshot(
            a,
            name=a.name,
            trigger=a.handoff_trigger,
            is_entry_point=a.name == entry,
            variables=merged,
            targets=targets,
        )
        for a in agents
    }
    if session_agent is not None:
        snapshots[session_agent.name] = _snapshot(
            session_agent,
            name=session_agent.name,
            trigger=session_agent.handoff_trigger,
            is_entry_point=True,
            variables=merged,
            targets=targets,
        )
    if not snapshots:
        raise LookupError("no enabled agent: load the library with `manage.py load_agents`")
    return AgentRoster(agents=snapshots, entry_agent=entry)


def pii_redaction_mode(*, agent_names: list[str]) -> str:
    """A conversation's PII redaction (`off`, `store`, `llm`): the strictest among its agents.

    An agent set to `inherit`, and a session's dynamic agent, follow `PII_REDACTION`.
    """
    from media.redaction import INHERIT, strictest

    default = settings.PII_REDACTION
    own = dict(Agent.objects.filter(name__in=agent_names).values_list("name", "pii_redaction"))
    modes = [own.get(name, INHERIT) for name in agent_names] or [INHERIT]
    return strictest(*(default if mode == INHERIT else mode for mode in modes))


def tool_runner_for(roster: AgentRoster | None = None) -> DatabaseToolRunner:
    """The ToolRunner a conversation engine should call."""
    return DatabaseToolRunner(roster)


# Azure Speech takes up to 500 phrases in a phrase list; the newest customers are kept.
CUSTOMER_NAMES_MAX = 500


def customer_names(*, limit: int = CUSTOMER_NAMES_MAX) -> list[str]:
    """The full names of the active demo customers, newest first: the names the identity check
    can verify, handed to the recognizer as hints."""
    names = DemoUser.objects.active().order_by("-created_at").values_list("full_name", flat=True)
    return list(dict.fromkeys(names[: limit * 2]))[:limit]


def demo_user_find(*, email: str, session_id: str = "") -> DemoUser | None:
    """The newest active demo profile with `email` (in `session_id` if given), whoever made it."""
    users = DemoUser.objects.active().filter(email__iexact=email.strip())
    if session_id:
        users = users.filter(session_id=session_id)
    return users.order_by("-created_at").first()


def _own(user_id: int | None, session_id: str) -> Q:
    own = Q(created_by_id=user_id) if user_id is not None else Q(pk__in=[])
    if session_id:
        own |= Q(created_by__isnull=True, session_id=session_id)
    return own


def demo_user_own(
    *, email: str, user_id: int | None = None, session_id: str = "", in_session: bool = False
) -> DemoUser | None:
    """The newest active demo profile with `email` that is the client's own.

    Args:
        user_id: the client's signed-in user: the profiles they made are theirs.
        session_id: a session the client has proven is theirs: the profiles made in it
            anonymously are theirs too.
        in_session: only profiles in `session_id`.
    """
    users = DemoUser.objects.active().filter(_own(user_id, session_id), email__iexact=email.strip())
    if in_session:
        users = users.filter(session_id=session_id)
    return users.order_by("-created_at").first()


def demo_user_of_another(*, email: str, session_id: str, user_id: int | None) -> bool:
    """Whether `session_id` holds an active profile with `email` made by another client than
    the session's (a signed-in `user_id`, or the anonymous visitor who made it)."""
    users = DemoUser.objects.active().filter(email__iexact=email.strip(), session_id=session_id)
    return users.exclude(_own(user_id, session_id)).exists()


def session_agent_list():
    return SessionAgent.objects.active()


__all__ = [
    "agent_get",
    "agent_list",
    "demo_user_find",
    "demo_user_of_another",
    "demo_user_own",
    "entry_agent_name",
    "handoff_edges",
    "handoff_map",
    "roster_build",
    "session_agent_get",
    "session_agent_list",
    "session_variables",
    "tool_catalogue",
    "tool_runner_for",
    "trigger_for",
]
