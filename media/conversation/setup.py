"""What a conversation starts from: read from the database in one call off the event loop
(the stored state of a resumed session, what is known of a demo caller who gave an email, the
agent roster rendered with it, the roster's PII redaction mode), the engine's timings from
settings, and the engine session made of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from agentbuilder import selectors as agents
from media.conversation.redaction import ConversationRedaction
from media.engine.config import EngineConfig
from media.engine.session import ConversationSession
from media.modes import StreamMode
from media.speech import realtime_factory, session_providers
from metrics import selectors as metrics_selectors


@dataclass(frozen=True)
class ConversationSetup:
    roster: Any  # agentbuilder's AgentRoster
    state: Any  # metrics_selectors.SessionState, None for a new session
    tool_state: dict[str, Any]
    redaction_mode: str
    phrases: tuple[str, ...] = ()  # the customers' names: the recognizer's hints

    @property
    def resumed(self) -> bool:
        return self.state is not None and bool(self.state.history or self.state.active_agent)

    def session_kwargs(self) -> dict[str, Any]:
        """The engine session's arguments that come from here."""
        state = self.state
        return {
            "roster": self.roster,
            "history": list(state.history) if state else None,
            "active_agent": state.active_agent if state else None,
            "resumed": self.resumed,
            "tool_state": self.tool_state,
            "turns_before": state.turn_count if state else 0,
            "phrases": self.phrases,
        }


def conversation_setup_load(
    *, session_id: str, user_email: str | None, user_id: int | None
) -> ConversationSetup:
    """Sync (ORM): call it through `database_sync_to_async`.

    Raises:
        LookupError: no agent is loaded.
    """
    state = metrics_selectors.session_state_get(session_id)
    variables: dict[str, Any] = {}
    tool_state: dict[str, Any] = dict(state.tool_state) if state else {}
    if user_email:
        caller_vars, caller_state = _caller_context(user_email, session_id, user_id)
        variables.update(caller_vars)
        tool_state = {**caller_state, **tool_state}
    roster = agents.roster_build(session_id=session_id, variables=variables)
    mode = agents.pii_redaction_mode(agent_names=list(roster.agents))
    return ConversationSetup(
        roster=roster,
        state=state,
        tool_state=tool_state,
        redaction_mode=mode,
        phrases=tuple(agents.customer_names()),
    )


def engine_create(
    *,
    streaming_mode: str,
    redaction: ConversationRedaction,
    session_id: str,
    roster,
    phrases: tuple[str, ...] = (),
    **session,
) -> tuple[Any, Any]:
    """The engine session, and the synthesizer it leased from the pool (None for a realtime
    service's session): `voice_live` runs on the realtime service when one is configured,
    everything else on the cascade, whose LLM and tools see what `redaction` lets through and
    whose recognizer gets `phrases` as hints."""
    session["tool_runner"] = redaction.tool_runner(agents.tool_runner_for(roster))
    realtime = realtime_factory() if streaming_mode == StreamMode.VOICE_LIVE else None
    if realtime is not None:
        return realtime.create(session_id=session_id, roster=roster, **session), None
    providers = session_providers(session_id, roster)
    providers = replace(providers, llm=redaction.llm(providers.llm))
    providers.stt.set_phrases(phrases)
    engine = ConversationSession(
        providers=providers, session_id=session_id, roster=roster, **session
    )
    return engine, providers.tts


def engine_config() -> EngineConfig:
    """The engine's timings and timeouts from settings."""
    return EngineConfig(
        end_of_turn_silence_ms=settings.END_OF_TURN_SILENCE_MS,
        barge_in_pause_ms=settings.BARGE_IN_PAUSE_MS,
        llm_first_token_timeout_s=settings.LLM_TIMEOUT_S,
        llm_idle_timeout_s=settings.LLM_TIMEOUT_S,
        tts_timeout_s=settings.TTS_TIMEOUT_S,
        tool_timeout_s=settings.TOOL_TIMEOUT_S,
    )


def _caller_context(
    email: str, session_id: str, user_id: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Template variables and tool state for a demo caller known by email.

    Only a profile of the client's own is preloaded: made by its signed-in user, or made in
    this session (which the consumer has checked is the client's).
    """
    user = agents.demo_user_own(email=email, user_id=user_id, session_id=session_id)
    if user is None:
        return {}, {}
    variables = agents.caller_variables(user)
    # Who the caller says they are, not who they proved to be: the tools treat only the
    # `client_id` set by a passed identity check as verified.
    return variables, {"profile_client_id": user.client_id}
