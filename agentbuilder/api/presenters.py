"""Model instances -> the response dicts of the original API (fed to the output serializers)."""

from __future__ import annotations

from typing import Any

from agentbuilder.models import Agent, AgentTemplate, DemoUser, SessionAgent
from agentbuilder.rendering import base_context, render
from agentbuilder.selectors import handoff_map, session_variables
from agentbuilder.services.demo import CODE_MAX_ATTEMPTS, SAFETY_NOTICE
from agentbuilder.voices import voice_catalogue

PROMPT_PREVIEW = 320


def _voice(config) -> dict[str, str]:
    return {
        "name": config.voice_name,
        "type": config.voice["type"],
        "style": config.voice_style,
        "rate": config.voice_rate,
    }


def agent_summary(agent: Agent, triggers: dict[str, str]) -> dict[str, Any]:
    return {
        "name": agent.name,
        "status": "loaded" if agent.enabled else "disabled",
        "description": agent.description,
        "prompt_path": f"library/agents/{agent.library_file}" if agent.library_file else "",
        "config_path": f"library/agents/{agent.library_file}" if agent.library_file else "",
        "model": agent.model_settings,
        "voice": {
            "current_voice": agent.voice_name,
            "voice_style": agent.voice_style,
            "voice_rate": agent.voice_rate,
            "voice_configurable": True,
            "is_per_agent_voice": True,
        },
        "tool_count": len(agent.tools),
        "tools": list(agent.tools),
        "handoff_tools": [t for t in agent.tools if t in triggers],
        "handoff_trigger": agent.handoff_trigger,
        "is_entry_point": agent.is_entry_point,
        "enabled": agent.enabled,
        "prompt_preview": agent.instructions[:PROMPT_PREVIEW],
        "source": agent.source,
        "edited": bool(agent.library_digest) and agent.content_digest() != agent.library_digest,
        "updated_at": agent.updated_at,
    }


def agent_detail(agent: Agent, *, session_id: str = "") -> dict[str, Any]:
    context = base_context(agent_name=agent.name, template_vars=agent.template_vars)
    context.update(session_variables(session_id=session_id))
    data = agent_summary(agent, handoff_map())
    data.update(
        greeting=agent.greeting,
        return_greeting=agent.return_greeting,
        prompt_full=agent.instructions,
        template_vars=agent.template_vars,
        realtime=agent.realtime,
        handoff_description=agent.handoff_description,
        rendered_greeting=render(agent.greeting, context),
        rendered_prompt=render(agent.instructions, context),
    )
    return data


def available_voices() -> dict[str, list[str]]:
    by = {"turbo": [], "standard": [], "hd": [], "local": []}
    for voice in voice_catalogue():
        by.setdefault(voice.category, []).append(voice.name)
    return {f"{k}_voices": v for k, v in by.items()}


def template_summary(template: AgentTemplate) -> dict[str, Any]:
    return {
        "id": template.slug,
        "name": template.name,
        "description": template.description,
        "greeting": template.greeting,
        "prompt_preview": template.instructions[:300],
        "prompt_full": template.instructions,
        "tools": list(template.tools),
        "voice": _voice(template),
        "model": template.model_settings,
        "is_entry_point": template.is_entry_point,
    }


def template_detail(template: AgentTemplate) -> dict[str, Any]:
    return {
        "id": template.slug,
        "name": template.name,
        "description": template.description,
        "greeting": template.greeting,
        "return_greeting": template.return_greeting,
        "prompt": template.instructions,
        "tools": list(template.tools),
        "voice": _voice(template),
        "model": template.model_settings,
        "template_vars": template.template_vars,
        "handoff": {
            "trigger": template.handoff_trigger,
            "is_entry_point": template.is_entry_point,
        },
    }


def session_agent(agent: SessionAgent, *, status: str, full: bool = False) -> dict[str, Any]:
    config = {
        "name": agent.name,
        "description": agent.description,
        "greeting": agent.greeting,
        "prompt_preview": agent.instructions[:200],
        "tools": list(agent.tools),
        "model": agent.model_settings,
        "voice": _voice(agent),
        "handoff_trigger": agent.handoff_trigger,
    }
    if full:
        config.update(prompt_full=agent.instructions, template_vars=agent.template_vars)
    return {
        "session_id": agent.session_id,
        "agent_name": agent.name,
        "status": status,
        "config": config,
        "created_at": agent.created_at,
        "modified_at": agent.updated_at,
        "expires_at": agent.expires_at,
    }


def demo_user(user: DemoUser, *, codes: dict[str, str] | None = None) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "client_id": user.client_id,
        "full_name": user.full_name,
        "email": user.email,
        "phone_number": user.phone_number,
        "relationship_tier": user.relationship_tier,
        "created_at": user.created_at,
        "institution_name": user.institution_name,
        "company_code": user.company_code,
        "company_code_last4": user.company_code[-4:],
        "client_type": user.client_type,
        "authorization_level": user.authorization_level,
        "max_transaction_limit": float(user.max_transaction_limit),
        "mfa_required_threshold": float(user.mfa_required_threshold),
        "contact_info": {
            "email": user.email,
            "phone": user.phone_number,
            "preferred_mfa_method": user.preferred_channel,
        },
        "mfa_settings": {
            "enabled": True,
            "code_expiry_minutes": int((user.expires_at - user.created_at).total_seconds() // 60),
            "max_attempts": CODE_MAX_ATTEMPTS,
        },
        "compliance": user.compliance,
        "customer_intelligence": user.customer_intelligence,
    }
    if codes is not None:
        profile["verification_codes"] = {
            "ssn4": codes["ssn4"],
            "employee_id4": codes["employee_id4"],
            "phone4": codes["phone4"],
            "mfa_code": codes["mfa"],
            "esignature_code": codes["esign"],
        }
    fallback = "sms" if user.preferred_channel == "email" else "email"
    return {
        "entry_id": user.entry_id,
        "expires_at": user.expires_at,
        "session_id": user.session_id or None,
        "safety_notice": SAFETY_NOTICE,
        "profile": profile,
        "transactions": [
            {
                "transaction_id": t.transaction_id,
                "merchant": t.merchant,
                "amount": float(t.amount),
                "category": t.category,
                "timestamp": t.timestamp,
                "risk_score": t.risk_score,
            }
            for t in user.transactions.all()[:5]
        ],
        "interaction_plan": {
            "primary_channel": user.preferred_channel,
            "fallback_channel": fallback,
            "notification_message": (
                f"Hello {user.full_name.split()[0]}, your {user.institution_name} demo profile "
                "is ready. Call the assistant and verify with your name and SSN last four."
            ),
            "mfa_required": True,
        },
    }
