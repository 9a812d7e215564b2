"""Writes on agents and session agents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agentbuilder.models import Agent, SessionAgent

SESSION_AGENT_TTL = timedelta(seconds=settings.SESSION_AGENT_TTL_SECONDS)

MODEL_FIELDS = {
    "deployment_id": "model_deployment",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
}
VOICE_FIELDS = {
    "voice_name": "voice_name",
    "name": "voice_name",
    "voice_style": "voice_style",
    "style": "voice_style",
    "rate": "voice_rate",
    "voice_rate": "voice_rate",
}


@transaction.atomic
def agent_update(
    *, agent: Agent, model: dict[str, Any] | None = None, voice: dict[str, Any] | None = None
) -> list[str]:
    """Change an agent's model and voice settings; validated, persisted. Returns what changed."""
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    changed: list[str] = []
    for source, mapping, prefix in ((model, MODEL_FIELDS, "model"), (voice, VOICE_FIELDS, "voice")):
        for key, value in (source or {}).items():
            field_name = mapping.get(key)
            if field_name is None or value is None:
                continue
            if getattr(agent, field_name) != value:
                setattr(agent, field_name, value)
                changed.append(f"{prefix}.{key}")
    if changed:
        agent.full_clean()
        agent.save()
    return changed


def _apply_config(agent: SessionAgent, config: dict[str, Any]) -> None:
    model = config.get("model") or {}
    voice = config.get("voice") or {}
    agent.name = config["name"]
    agent.description = config.get("description", "")
    agent.greeting = config.get("greeting", "")
    agent.return_greeting = config.get("return_greeting", "")
    agent.instructions = config["prompt"]
    agent.tools = list(config.get("tools") or [])
    agent.template_vars = config.get("template_vars") or {}
    agent.model_deployment = model.get("deployment_id", "gpt-4o")
    agent.temperature = model.get("temperature", 0.7)
    agent.top_p = model.get("top_p", 0.9)
    agent.max_tokens = model.get("max_tokens", 4096)
    agent.voice_name = voice.get("name", "en-US-AvaMultilingualNeural")
    agent.voice_style = voice.get("style", "chat")
    agent.voice_rate = voice.get("rate", "+0%")
    agent.realtime = config.get("realtime") or {}


@transaction.atomic
def session_agent_upsert(
    *, session_id: str, config: dict[str, Any], user=None
) -> tuple[SessionAgent, bool]:
    """Create or replace the dynamic agent of a session. Raises ValidationError when invalid."""
    agent = SessionAgent.objects.select_for_update().filter(session_id=session_id).first()
    created = agent is None
    if created:
        agent = SessionAgent(session_id=session_id)
    _apply_config(agent, config)
    if user is not None and getattr(user, "is_authenticated", False):
        agent.created_by = agent.created_by or user
    agent.expires_at = timezone.now() + SESSION_AGENT_TTL
    agent.full_clean(exclude=["created_by"])
    agent.save()
    return agent, created


@transaction.atomic
def session_agent_delete(*, session_id: str) -> bool:
    deleted, _ = SessionAgent.objects.filter(session_id=session_id).delete()
    return bool(deleted)


def session_agents_purge_expired() -> int:
    deleted, _ = SessionAgent.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


__all__ = [
    "ValidationError",
    "agent_update",
    "session_agent_delete",
    "session_agent_upsert",
    "session_agents_purge_expired",
]
