"""The browser WebSocket protocol: engine events as the original accelerator's JSON messages.

Clients written for the original keep working: most messages are *envelopes*
``{type, topic, session_id, call_id, user_id, sender, ts, payload, speaker_id}``; tool frames,
audio frames and barge-in controls are flat objects, as in the original. `docs/browser-protocol.md`
lists every message with examples.

Audio sent to browsers is PCM16 little-endian mono at ``BROWSER_AUDIO_SAMPLE_RATE_HZ`` (16 kHz),
one 20 ms frame (640 bytes) per ``audio_data`` message; the microphone sends the same format.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from media.engine.events import (
    AgentChange,
    AssistantDelta,
    AssistantFinal,
    AudioFrame,
    AudioPause,
    BargeIn,
    CallEnd,
    Event,
    SessionError,
    ToolEnd,
    ToolStart,
    TurnMetrics,
    UserTranscript,
)
from media.engine.tool_calls import DEFAULT_FAREWELL

BROWSER_AUDIO_SAMPLE_RATE_HZ = 16_000
MIC_FRAME_BYTES = 640  # 20 ms of PCM16 at 16 kHz; the microphone may send any multiple of 2 bytes

ENVELOPE_TYPES = (
    "event",
    "status",
    "assistant",
    "assistant_streaming",
    "exit",
    "error",
    "debug",
    "turn_metrics",
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def agent_label(agent: str) -> str:
    """A display label for an agent name ("fraud_agent", "FraudAgent" -> "Fraud Agent")."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", agent.replace("_", " ").replace("-", " "))
    return " ".join(w[:1].upper() + w[1:] for w in words.split())


def make_envelope(
    *,
    type: str,
    session_id: str,
    payload: dict[str, Any],
    sender: str = "System",
    topic: str = "session",
    call_id: str | None = None,
    user_id: int | str | None = None,
    speaker_id: str | None = None,
) -> dict[str, Any]:
    """The original's envelope around `payload`."""
    return {
        "type": type,
        "topic": topic,
        "session_id": session_id,
        "call_id": call_id,
        "user_id": user_id,
        "sender": sender,
        "ts": _now_iso(),
        "payload": payload,
        "speaker_id": speaker_id,
    }


def status_envelope(
    *,
    session_id: str,
    message: str,
    tone: str = "info",
    label: str | None = None,
    caption: str | None = None,
    extra: dict[str, Any] | None = None,
    user_id: int | str | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """A `status` envelope (connection state, agent ready, warnings)."""
    payload: dict[str, Any] = {"message": message, "timestamp": _now_iso(), "statusTone": tone}
    if label:
        payload["label"] = label
    if caption:
        payload["statusCaption"] = caption
    if extra:
        payload.update(extra)
    return make_envelope(
        type="status", session_id=session_id, payload=payload, user_id=user_id, call_id=call_id
    )


def exit_envelope(
    *,
    session_id: str,
    message: str = "Thank you for using our service. Goodbye.",
    reason: str = "",
    call_id: str | None = None,
    user_id: int | str | None = None,
) -> dict[str, Any]:
    """The `exit` envelope sent when the conversation ends (the client's `end`, or the agent
    ending the call: then `reason` says why)."""
    payload: dict[str, Any] = {"type": "exit", "message": message}
    if reason:
        payload["reason"] = reason
    return make_envelope(
        type="exit", session_id=session_id, payload=payload, call_id=call_id, user_id=user_id
    )


def error_message(
    *, code: str, message: str, session_id: str | None = None, close_code: int | None = None
) -> dict[str, Any]:
    """An `error` envelope: bad client input the session survives, or (with `close_code`)
    why the socket is being closed, sent just before the close."""
    payload: dict[str, Any] = {
        "code": code,
        "message": message,
        "statusTone": "error",
        "fatal": close_code is not None,
    }
    if close_code is not None:
        payload["close_code"] = close_code
    return make_envelope(type="error", session_id=session_id or "", payload=payload)


def encode_audio_frame(
    pcm: bytes,
    *,
    sample_rate_hz: int = BROWSER_AUDIO_SAMPLE_RATE_HZ,
    frame_index: int = 0,
    is_final: bool = False,
    turn_id: int = 0,
) -> str:
    """The `audio_data` message as JSON text, built without a dict (sent 50 times a second)."""
    data = base64.b64encode(pcm).decode("ascii")
    final = "true" if is_final else "false"
    return (
        f'{{"type":"audio_data","data":"{data}","sample_rate":{int(sample_rate_hz)},'
        f'"frame_index":{int(frame_index)},"total_frames":null,"is_final":{final},'
        f'"turn_id":{int(turn_id)}}}'
    )


def _user_transcript(event: UserTranscript, session_id: str, **ids: Any) -> dict[str, Any]:
    if not event.is_final:
        payload = {
            "event_type": "stt_partial",
            "turn_id": event.turn_id,
            "data": {
                "type": "streaming",
                "streaming_type": "stt_partial",
                "content": event.text,
                "language": "en-US",
                "speaker_id": None,
                "session_id": session_id,
                "is_final": False,
                "timestamp": _now_iso(),
            },
        }
        return make_envelope(type="event", session_id=session_id, payload=payload, **ids)
    payload = {
        "type": "user",
        "sender": "User",
        "message": event.text,
        "content": event.text,
        "streaming": False,
        "status": "completed",
        "turn_id": event.turn_id,
        "response_id": f"{session_id}:{event.turn_id}",
        "source": event.source,
    }
    return make_envelope(type="event", session_id=session_id, payload=payload, sender="User", **ids)


def _assistant_payload(agent: str, turn_id: int, session_id: str) -> dict[str, Any]:
    return {
        "turn_id": turn_id,
        "response_id": f"{session_id}:{turn_id}",
        "sender": agent,
        "speaker": agent,
        "active_agent": agent,
        "active_agent_label": agent_label(agent),
        "run_id": f"{session_id}:{turn_id}",
    }


def _assistant_delta(event: AssistantDelta, session_id: str, **ids: Any) -> dict[str, Any]:
    payload = {
        "content": event.text,
        "message": event.text,
        "streaming": True,
        "status": "streaming",
        **_assistant_payload(event.agent, event.turn_id, session_id),
    }
    envelope = make_envelope(
        type="assistant_streaming",
        session_id=session_id,
        payload=payload,
        sender=event.agent,
        **ids,
    )
    # Older clients of the original read these at the top level.
    envelope["message"] = event.text
    envelope["speaker"] = event.agent
    return envelope


def _assistant_final(event: AssistantFinal, session_id: str, **ids: Any) -> dict[str, Any]:
    payload = {
        "type": "assistant",
        "message": event.text,
        "content": event.text,
        "streaming": False,
        "status": "interrupted" if event.interrupted else "completed",
        "interrupted": event.interrupted,
        "is_greeting": event.is_greeting,
        **_assistant_payload(event.agent, event.turn_id, session_id),
    }
    # The original sends greetings as an `assistant` envelope and answers as `event`.
    return make_envelope(
        type="assistant" if event.is_greeting else "event",
        session_id=session_id,
        payload=payload,
        sender=event.agent,
        **ids,
    )


def _agent_change(event: AgentChange, session_id: str, **ids: Any) -> dict[str, Any]:
    payload = {
        "event_type": "agent_change",
        "agent_name": event.agent,
        "agent_label": agent_label(event.agent),
        "previous_agent": event.previous_agent,
        "silent": event.silent,
        "reason": event.reason,
        "turn_id": event.turn_id,
        "message": f"Switched to {agent_label(event.agent)}",
    }
    return make_envelope(type="event", session_id=session_id, payload=payload, **ids)


def _turn_metrics(event: TurnMetrics, session_id: str, **ids: Any) -> dict[str, Any]:
    payload = {
        "turn_number": event.turn_id,
        "turn_id": event.turn_id,
        "agent_name": event.agent,
        "user_text": event.user_text,
        "assistant_text": event.assistant_text,
        "interrupted": event.interrupted,
        # Names the original's client reads...
        "stt_latency_ms": event.stt_final_ms,
        "llm_ttft_ms": event.llm_ttft_ms,
        "tts_ttfb_ms": event.tts_ttfb_ms,
        "duration_ms": event.first_audio_ms,
        # ...and the rest of what the engine measures.
        "llm_total_ms": event.llm_total_ms,
        "first_audio_ms": event.first_audio_ms,
        "barge_in_ms": event.barge_in_ms,
        "tokens_in": event.tokens_in,
        "tokens_out": event.tokens_out,
        "tool_calls": list(event.tool_calls),
    }
    return make_envelope(type="turn_metrics", session_id=session_id, payload=payload, **ids)


def _session_error(event: SessionError, session_id: str, **ids: Any) -> dict[str, Any]:
    payload = {
        "message": event.message,
        "stage": event.stage,
        "fatal": event.fatal,
        "turn_id": event.turn_id,
        "statusTone": "error" if event.fatal else "warning",
        "timestamp": _now_iso(),
    }
    return make_envelope(type="error", session_id=session_id, payload=payload, **ids)


def _tool_start(event: ToolStart, session_id: str) -> dict[str, Any]:
    return {
        "type": "tool_start",
        "tool": event.tool,
        "call_id": event.call_id,
        "arguments": event.arguments,
        "agent": event.agent,
        "turn_id": event.turn_id,
        "timestamp": _now_iso(),
        "session_id": session_id,
    }


def _tool_end(event: ToolEnd, session_id: str) -> dict[str, Any]:
    message = {
        "type": "tool_end",
        "tool": event.tool,
        "call_id": event.call_id,
        "status": event.status,
        "result": event.result,
        "duration_ms": round(event.duration_ms, 1),
        "agent": event.agent,
        "turn_id": event.turn_id,
        "timestamp": _now_iso(),
        "session_id": session_id,
    }
    if event.status == "error":
        message["error"] = str(event.result.get("error") or event.result.get("message") or "")
    return message


def _control(action: str, event: BargeIn | AudioPause, session_id: str, at: str) -> dict:
    return {
        "type": "control",
        "action": action,
        "reason": event.reason,
        "turn_id": event.turn_id,
        "reaction_ms": round(event.reaction_ms, 3),
        "at": at,
        "session_id": session_id,
    }


def barge_in_controls(event: BargeIn, *, session_id: str) -> list[dict[str, Any]]:
    """The two control messages of a barge-in: stop synthesis, then flush playback."""
    at = _now_iso()
    return [_control(action, event, session_id, at) for action in ("tts_cancelled", "audio_stop")]


def audio_pause_control(event: AudioPause, *, session_id: str) -> dict[str, Any]:
    """A provisional stop: flush playback, keep the turn (its audio may resume)."""
    return {**_control("audio_stop", event, session_id, _now_iso()), "resumable": True}


def encode_event(
    event: Event,
    *,
    session_id: str,
    call_id: str | None = None,
    user_id: int | str | None = None,
) -> dict[str, Any] | None:
    """One engine event as the message the original would send; None for unknown events.

    A barge-in is two control messages (see `encode_messages`); this returns the first,
    `tts_cancelled`, which is what dashboards show.
    """
    messages = encode_messages(event, session_id=session_id, call_id=call_id, user_id=user_id)
    return messages[0] if messages else None


def encode_messages(
    event: Event,
    *,
    session_id: str,
    call_id: str | None = None,
    user_id: int | str | None = None,
) -> list[dict[str, Any]]:
    """Every message a browser client gets for `event`, in order (empty for unknown events)."""
    ids = {"call_id": call_id, "user_id": user_id}
    match event:
        case UserTranscript():
            return [_user_transcript(event, session_id, **ids)]
        case AssistantDelta():
            return [_assistant_delta(event, session_id, **ids)]
        case AssistantFinal():
            return [_assistant_final(event, session_id, **ids)]
        case AudioFrame():
            return [json.loads(encode_audio_frame_event(event))]
        case BargeIn():
            return barge_in_controls(event, session_id=session_id)
        case AudioPause():
            return [audio_pause_control(event, session_id=session_id)]
        case ToolStart():
            return [_tool_start(event, session_id)]
        case ToolEnd():
            return [_tool_end(event, session_id)]
        case AgentChange():
            return [_agent_change(event, session_id, **ids)]
        case TurnMetrics():
            return [_turn_metrics(event, session_id, **ids)]
        case SessionError():
            return [_session_error(event, session_id, **ids)]
        case CallEnd():
            message = event.farewell or DEFAULT_FAREWELL
            return [
                exit_envelope(session_id=session_id, message=message, reason=event.reason, **ids)
            ]
    return []


def encode_audio_frame_event(event: AudioFrame) -> str:
    """`encode_audio_frame` for an engine `AudioFrame`."""
    return encode_audio_frame(
        event.pcm,
        sample_rate_hz=event.sample_rate_hz,
        frame_index=event.index,
        is_final=event.is_last,
        turn_id=event.turn_id,
    )
