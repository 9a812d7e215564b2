"""What a :class:`~media.realtime.session.RealtimeSession` tracks per response and per turn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from media.engine.audio import StreamResampler
from media.engine.pacing import SpokenSegment
from media.providers.base import ProviderStartError


class RealtimeStartError(ProviderStartError):
    """The realtime service could not be reached or refused the session configuration."""


@dataclass(slots=True)
class ResponseState:
    """One `response.*` of the service, as far as this session has seen it."""

    id: str
    turn_id: int
    agent: str
    item_id: str = ""
    text: str = ""
    segment: SpokenSegment | None = None
    resampler: StreamResampler | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    tool_jobs: dict[str, asyncio.Future] = field(default_factory=dict)
    tool_started: dict[str, float] = field(default_factory=dict)
    audio_frames: int = 0
    done: bool = False


@dataclass(slots=True)
class TurnState:
    """One turn (the caller's words and the agent's answer) with the times its metrics need."""

    turn_id: int
    user_text: str = ""
    started_at: float = 0.0  # end of speech, text arrival or session start
    speech_stopped_at: float | None = None
    stt_final_ms: float | None = None
    response_created_at: float | None = None
    first_delta_at: float | None = None
    first_audio_at: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tools: list[dict[str, Any]] = field(default_factory=list)
    responses: list[ResponseState] = field(default_factory=list)
    finished: bool = False
    is_greeting: bool = False
